"""Separated components against the synthetic generator's ground truth (``synth/ground_truth``).

Every visual trait value with at least ``min_support`` carriers is scored; one that got no component scores 0
(and is counted as missing). Footprint IoU: the component's mask against the union, over tokens carrying the
value, of the pixels where that layer is the visible one. Token IoU: the component applied to one token
(`Component.token_mask`) against that token's visible pixels of the layer, averaged over up to
``tokens_per_component`` tokens. Ground truth is drawn at the collection's canvas size and brought to the
dataset's resolution with NEAREST.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from modeling.separation.pixels import iou
from modeling.separation.separate import SeparationResult


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
    found: bool = True  # False: the value got no component (both IoUs 0)


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
    tolerance: int | None = None,
    min_support: int = 8,
    tokens_per_component: int = 16,
) -> list[ComponentScore]:
    """Score every visual value of one collection with support >= `min_support` (module docstring); token masks
    use `tolerance`, by default the one separation estimated (`SeparationResult.tolerance`)."""
    truth = json.loads((ground_truth / result.collection / "collection.json").read_text(encoding="utf-8"))
    kinds = truth["visual_traits"]
    tolerance = result.tolerance if tolerance is None else tolerance
    carriers: dict[tuple[str, str], list[tuple[int, str, int]]] = defaultdict(list)
    for row, token_id in enumerate(token_ids):
        for index, layer in enumerate(truth["tokens"].get(token_id, []), start=1):
            carriers[(layer["trait_type"], layer["value"])].append((row, token_id, index))
    components = {component.key: component for component in result.components}
    visibility = ground_truth / result.collection / "visibility"
    scores = []
    for key, carried in sorted(carriers.items()):
        if len(carried) < min_support or key[0] not in kinds:
            continue
        score = ComponentScore(result.collection, truth["style"], kinds[key[0]], *key, len(carried), 0.0, 0.0, False)
        component = components.get(key)
        if component is not None:
            size = (component.mask.shape[1], component.mask.shape[0])
            footprint = np.zeros(component.mask.shape, dtype=bool)
            token_ious = []
            for n, (row, token_id, index) in enumerate(carried):
                visible = _visible(visibility / f"{result.collection}_{token_id}.png", index, size)
                footprint |= visible
                if n < tokens_per_component:
                    token_ious.append(iou(component.token_mask(load_image(row), tolerance), visible))
            score.footprint_iou, score.token_iou = iou(component.mask, footprint), float(np.mean(token_ious))
            score.found = True
        scores.append(score)
    return scores


def summarize(scores: list[ComponentScore]) -> list[dict]:
    """Mean IoUs (missing components as 0) per (style, layer kind), then per style, then overall: table rows."""
    groups: dict[tuple[str, str], list[ComponentScore]] = defaultdict(list)
    for score in scores:
        groups[(score.style, score.kind)].append(score)
        groups[(score.style, "all")].append(score)
        groups[("all", "all")].append(score)
    return [
        {
            "style": style,
            "kind": kind,
            "values": len(group),
            "missing": sum(not s.found for s in group),
            "footprint_iou": float(np.mean([s.footprint_iou for s in group])),
            "token_iou": float(np.mean([s.token_iou for s in group])),
        }
        for (style, kind), group in sorted(groups.items())
    ]
