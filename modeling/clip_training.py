"""Pieces of CLIP fine-tuning that are not the loop: which towers train, and AdamW parameter groups."""

from __future__ import annotations

import torch


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
