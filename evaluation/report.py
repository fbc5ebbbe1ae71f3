"""Retrieval results of a split: text-to-image and image-to-text top-k over the whole split (paper Tables 1
and 4) and within each collection (Table 5), for the paper's paired target and the attribute-exact one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .embeddings import SplitEmbeddings
from .retrieval import DEFAULT_KS, recall_at_k, retrieval_hits

DIRECTIONS = ("text_to_image", "image_to_text")
TARGET_LABELS = {"paired": "paired (paper)", "attribute_exact": "attribute-exact"}


def _both_directions(image_embeds, text_embeds, groups, ks, **chunks) -> dict:
    return {
        "text_to_image": recall_at_k(retrieval_hits(text_embeds, image_embeds, groups, ks, **chunks)),
        "image_to_text": recall_at_k(retrieval_hits(image_embeds, text_embeds, groups, ks, **chunks)),
    }


def per_collection_report(embeddings: SplitEmbeddings, ks: Sequence[int] = DEFAULT_KS, **chunks) -> dict:
    """Percent top-k within each collection (gallery = that collection's rows), by collection name."""
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, collection in enumerate(embeddings.collections):
        rows_of[collection].append(i)
    per_collection = {}
    for collection, rows in sorted(rows_of.items()):
        index = np.asarray(rows)
        per_collection[collection] = {
            "rows": len(rows),
            **_both_directions(
                embeddings.image_embeds[index], embeddings.text_embeds[index], embeddings.groups[index], ks, **chunks
            ),
        }
    return per_collection


def retrieval_report(embeddings: SplitEmbeddings, ks: Sequence[int] = DEFAULT_KS, **chunks) -> dict:
    """Percent top-k over the whole split and within each collection (gallery = that collection's rows)."""
    per_collection = per_collection_report(embeddings, ks, **chunks)
    return {
        "rows": len(embeddings.collections),
        "collections": len(per_collection),
        "whole_split": _both_directions(
            embeddings.image_embeds, embeddings.text_embeds, embeddings.groups, ks, **chunks
        ),
        "per_collection": per_collection,
    }


def _cells(scores: dict[str, float]) -> str:
    return " | ".join(f"{value:.1f}" for value in scores.values())


def whole_split_markdown(reports: dict[str, dict]) -> str:
    """One row per (model, direction, target); `reports` maps a row label (model) to its report."""
    first = next(iter(reports.values()))["whole_split"]["text_to_image"]["paired"]
    header = " | ".join(first)
    lines = [f"| model | direction | target | {header} |", "| --- | --- | --- |" + " ---: |" * len(first)]
    for label, report in reports.items():
        for direction in DIRECTIONS:
            for target, scores in report["whole_split"][direction].items():
                lines.append(
                    f"| {label} | {direction.replace('_', ' ')} | {TARGET_LABELS[target]} | {_cells(scores)} |"
                )
    return "\n".join(lines)


def per_collection_markdown(report: dict, target: str = "paired") -> str:
    """Within-collection top-k per collection, both directions, for one target."""
    per = report["per_collection"]
    ks = list(next(iter(per.values()))["text_to_image"][target])
    header = " | ".join(f"t2i {k}" for k in ks) + " | " + " | ".join(f"i2t {k}" for k in ks)
    lines = [f"| collection | rows | {header} |", "| --- | ---: |" + " ---: |" * (2 * len(ks))]
    for name, result in per.items():
        cells = f"{_cells(result['text_to_image'][target])} | {_cells(result['image_to_text'][target])}"
        lines.append(f"| {name} | {result['rows']} | {cells} |")
    return "\n".join(lines)
