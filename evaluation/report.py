"""Retrieval results of a split: text-to-image and image-to-text top-k over the whole split (paper Tables 1
and 4) and within each collection (Table 5), for the paper's paired target and the attribute-exact one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nft1000_dataset.exported import rows_by_collection
from nft1000_io.atomic import atomic_write_text
from nft1000_io.text import markdown_cell

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
    per_collection = {}
    for collection, rows in sorted(rows_by_collection(embeddings.collections).items()):
        index = np.asarray(rows)
        per_collection[collection] = {
            "rows": len(rows),
            **_both_directions(
                embeddings.image_embeds[index], embeddings.text_embeds[index], embeddings.groups[index], ks, **chunks
            ),
        }
    return per_collection


class RetrievalReport(dict):
    """One model's retrieval on one split, as JSON holds it (like transformers' ``ModelOutput``, a dict with
    methods): ``rows``, ``collections``, ``whole_split`` and ``per_collection``, each split by direction
    (text_to_image, image_to_text) and target (paired, attribute_exact) into percent top-k."""

    @classmethod
    def from_embeddings(cls, embeddings: SplitEmbeddings, ks: Sequence[int] = DEFAULT_KS, **chunks) -> RetrievalReport:
        """Percent top-k over the whole split and within each collection (gallery = that collection's rows)."""
        per_collection = per_collection_report(embeddings, ks, **chunks)
        return cls(
            rows=len(embeddings.collections),
            collections=len(per_collection),
            whole_split=_both_directions(
                embeddings.image_embeds, embeddings.text_embeds, embeddings.groups, ks, **chunks
            ),
            per_collection=per_collection,
        )

    def top(self, direction: str = "text_to_image", target: str = "paired") -> dict[str, float]:
        """Whole-split percent top-k of one direction and target: ``{"top1": ..., "top5": ..., ...}``."""
        return self["whole_split"][direction][target]

    def scalars(self, prefix: str = "eval") -> dict[str, float]:
        """Flat ``prefix/direction/target/topk`` values, as trackers log them."""
        return {
            f"{prefix}/{direction}/{target}/{k}": value
            for direction, targets in self["whole_split"].items()
            for target, scores in targets.items()
            for k, value in scores.items()
        }

    def summary(self) -> str:
        """One line: paired top-k of both directions."""
        return ", ".join(
            f"{direction.replace('_', '-')} top{'/'.join(k.removeprefix('top') for k in self.top(direction))} "
            + "/".join(f"{v:.1f}" for v in self.top(direction).values())
            for direction in DIRECTIONS
        )

    def per_collection_markdown(self, target: str = "paired") -> str:
        """Within-collection top-k per collection, both directions, for one target."""
        return per_collection_markdown(self, target)


def write_retrieval(reports: dict[str, RetrievalReport], output_dir: Path, title: str) -> str:
    """``retrieval.json`` (label -> report) and ``retrieval.md`` (`title`, the whole split for every model, then
    each model within each collection) in `output_dir`; returns the Markdown."""
    sections = [title, "## Whole split\n\n" + whole_split_markdown(reports)]
    for name, report in reports.items():
        sections.append(f"## Within each collection: {name} (paired target)\n\n" + per_collection_markdown(report))
    markdown = "\n\n".join(sections) + "\n"
    atomic_write_text(output_dir / "retrieval.json", json.dumps(reports, indent=2))
    atomic_write_text(output_dir / "retrieval.md", markdown)
    return markdown


def load_retrieval(output_dir: Path) -> dict[str, RetrievalReport]:
    """What `write_retrieval` wrote (or a training run's ``eval_results.json`` given as the file)."""
    path = output_dir if output_dir.is_file() else output_dir / "retrieval.json"
    return {label: RetrievalReport(report) for label, report in json.loads(path.read_text()).items()}


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
        lines.append(f"| {markdown_cell(name)} | {result['rows']} | {cells} |")
    return "\n".join(lines)
