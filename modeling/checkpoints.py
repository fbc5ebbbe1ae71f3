"""Checkpoint folders of a training run (``OUTPUT_DIR/checkpoint-<step>``, as the HF example scripts name them):
the step of one, the newest, and pruning to a limit. Used by both training scripts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(path: str | Path) -> int:
    match = CHECKPOINT_PATTERN.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path}: not a checkpoint folder (expected checkpoint-<step>)")
    return int(match.group(1))


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Checkpoint folders in `output_dir`, oldest step first."""
    folder = Path(output_dir)
    found = [p for p in folder.iterdir() if p.is_dir() and CHECKPOINT_PATTERN.match(p.name)] if folder.is_dir() else []
    return sorted(found, key=checkpoint_step)


def resolve_checkpoint(resume_from_checkpoint: str, output_dir: str | Path) -> Path | None:
    """``latest`` is the newest checkpoint in `output_dir` (None when there is none yet), else the path."""
    if resume_from_checkpoint == "latest":
        found = list_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {path}: no such checkpoint folder")
    checkpoint_step(path)
    return path


def prune_checkpoints(output_dir: str | Path, keep: int | None) -> None:
    """Delete the oldest checkpoints so that at most `keep` remain."""
    if keep is None:
        return
    for old in list_checkpoints(output_dir)[: -keep or None]:
        shutil.rmtree(old)
