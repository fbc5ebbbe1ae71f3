"""Separated components against the synthetic generator's ground truth (``synth/ground_truth``).

Footprint IoU: the component's mask against the union, over tokens carrying the value, of the pixels where
that layer is the visible one. Token IoU: the component applied to one token (`Component.token_mask`)
against that token's visible pixels of the layer, averaged over up to ``tokens_per_component`` tokens.
Ground truth is drawn at the collection's canvas size and brought to the dataset's resolution with NEAREST.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .pixels import iou
from .separation import SeparationResult


@dataclass
class ComponentScore:
    collection: str
    style: str
    kind: str
    trait_type: str
    value: str
    support: int
    footprint_iou: float
    token_iou: float


def _visible(path: Path, index: int, size: tuple[int, int]) -> np.ndarray:
    labels = Image.open(path)
    if labels.size != size:
        labels = labels.resize(size, Image.Resampling.NEAREST)
    return np.asarray(labels) == index


def score_collection(
    result: SeparationResult,
    token_ids: list[str],
    load_image: Callable[[int], np.ndarray],
    ground_truth: Path,
    *,
    tolerance: int = 24,
    min_support: int = 8,
    tokens_per_component: int = 16,
) -> list[ComponentScore]:
    """Score every component of one collection with support >= `min_support`."""
    truth = json.loads((ground_truth / result.collection / "collection.json").read_text(encoding="utf-8"))
    kinds = truth["visual_traits"]
    scores = []
    for component in result.components:
        if component.support < min_support or component.trait_type not in kinds:
            continue
        size = (component.mask.shape[1], component.mask.shape[0])
        carriers = []
        for row, token_id in enumerate(token_ids):
            layers = truth["tokens"].get(token_id, [])
            for index, layer in enumerate(layers, start=1):
                if (layer["trait_type"], layer["value"]) == component.key:
                    carriers.append((row, token_id, index))
        visibility = ground_truth / result.collection / "visibility"
        footprint = np.zeros(component.mask.shape, dtype=bool)
        token_ious = []
        for n, (row, token_id, index) in enumerate(carriers):
            visible = _visible(visibility / f"{result.collection}_{token_id}.png", index, size)
            footprint |= visible
            if n < tokens_per_component:
                token_ious.append(iou(component.token_mask(load_image(row), tolerance), visible))
        scores.append(
            ComponentScore(
                collection=result.collection,
                style=truth["style"],
                kind=kinds[component.trait_type],
                trait_type=component.trait_type,
                value=component.value,
                support=component.support,
                footprint_iou=iou(component.mask, footprint),
                token_iou=float(np.mean(token_ious)) if token_ious else float("nan"),
            )
        )
    return scores


def summarize(scores: list[ComponentScore]) -> list[dict]:
    """Mean IoUs per (style, layer kind), then per style, then overall: rows for a Markdown table."""
    groups: dict[tuple[str, str], list[ComponentScore]] = defaultdict(list)
    for score in scores:
        groups[(score.style, score.kind)].append(score)
        groups[(score.style, "all")].append(score)
        groups[("all", "all")].append(score)
    return [
        {
            "style": style,
            "kind": kind,
            "components": len(group),
            "footprint_iou": float(np.mean([s.footprint_iou for s in group])),
            "token_iou": float(np.nanmean([s.token_iou for s in group])),
        }
        for (style, kind), group in sorted(groups.items())
    ]
