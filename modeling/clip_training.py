"""Pieces of CLIP fine-tuning that are not the loop: parameter groups, freezing, checkpoint folders."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import torch

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


def freeze_towers(model, vision: bool = False, text: bool = False) -> None:
    """Freeze the vision tower (encoder and projection) and/or the text tower."""
    towers = {
        "vision": (model.vision_model, model.visual_projection),
        "text": (model.text_model, model.text_projection),
    }
    for name, frozen in (("vision", vision), ("text", text)):
        for module in towers[name]:
            module.requires_grad_(not frozen)


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices only, none on norms, biases, embeddings' gains or logit_scale."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


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
