"""Jobs made of stages that a rerun resumes: ``stages.json`` records which stages finished with which settings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from .atomic import atomic_write_text


class Stages:
    """Which stages finished under `out`, with which settings: a stage whose settings match is skipped."""

    def __init__(self, out: Path, settings: dict):
        self.path, self.settings = Path(out) / "stages.json", settings
        self.done = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def run(self, name: str, job: Callable[[], None], progress: tqdm, settings: dict | None = None) -> None:
        """Run `job` unless stage `name` finished before with the same settings (the job's, else `settings`)."""
        settings = self.settings if settings is None else settings
        progress.set_description(name)
        if self.done.get(name, {}).get("settings") == settings:
            progress.write(f"{name}: done before, reused")
        else:
            start = time.perf_counter()
            job()
            self.done[name] = {"settings": settings, "seconds": round(time.perf_counter() - start, 1)}
            atomic_write_text(self.path, json.dumps(self.done, indent=2))
        progress.update(1)
