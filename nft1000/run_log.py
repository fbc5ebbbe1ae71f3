"""What a training script records besides its tracker: hyper-parameters as scalars and a JSON-lines step log."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path


def scalar_config(*groups) -> dict:
    """The fields of argument dataclasses as tracker-friendly scalars (anything else as its string)."""
    flat = {}
    for group in groups:
        for key, value in asdict(group).items():
            flat[key] = value if isinstance(value, int | float | str | bool) else str(value)
    return flat


class TrainLog:
    """Every logged step as a JSON line in ``path`` (written by the main process only)."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
