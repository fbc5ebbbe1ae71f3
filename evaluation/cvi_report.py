"""Per-collection retrieval difficulty (paper, Table 6): each collection's top-k beside its CVI, the alpha that
makes CVI track top-k best (Figure 11: Jensen-Shannon divergence between the L1-normalised per-collection CVI
and top-k vectors) and the rank correlation between CVI and top-1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import spearmanr

from nft1000_dataset.exported import rows_by_collection
from nft1000_io.atomic import atomic_write_png, atomic_write_text
from nft1000_io.optional import import_extra
from nft1000_io.text import markdown_cell

from .cvi import CviOptions, compute_cvi
from .embeddings import SplitEmbeddings
from .report import RetrievalReport

ALPHAS = tuple(round(0.05 * i, 2) for i in range(21))
KS = ("top1", "top5", "top10")


def cvi_from_parts(parts: dict[str, float], alpha: float) -> float:
    return (alpha * parts["image_image"] + (1 - alpha) * parts["text_text"] + parts["text_image"]) / 2


def cvi_report(embeddings: SplitEmbeddings, retrieval: RetrievalReport, options: CviOptions) -> dict:
    """CVI of the whole split and of each collection, beside the within-collection text-to-image top-k
    (paired target) of `retrieval` (of the same embeddings)."""
    rows_of = rows_by_collection(embeddings.collections)
    per_collection = {}
    for collection, rows in rows_of.items():
        if len(rows) < 2:
            continue  # CVI needs two pairs; counted below
        index = np.asarray(rows)
        parts = compute_cvi(embeddings.image_embeds[index], embeddings.text_embeds[index], options)
        topk = retrieval["per_collection"][collection]["text_to_image"]["paired"]
        per_collection[collection] = {"rows": len(rows), **topk, **parts}
    ordered = dict(sorted(per_collection.items(), key=lambda item: item[1]["cvi"]))
    whole = compute_cvi(embeddings.image_embeds, embeddings.text_embeds, options)
    return {
        "alpha": options.alpha,
        "options": {k: v for k, v in vars(options).items() if k != "chunk_size"},
        "whole_split": {
            "rows": len(embeddings.collections),
            **retrieval.top("text_to_image"),
            **whole,
        },
        "per_collection": ordered,
        "skipped_collections": sorted(set(rows_of) - set(per_collection)),
    }


def jsd(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between two non-negative vectors, each L1-normalised."""
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)


def calibrate_alpha(report: dict, alphas: tuple[float, ...] = ALPHAS) -> dict:
    """JSD between per-collection CVI(alpha) and each top-k vector, for every alpha; the best alpha per k."""
    collections = list(report["per_collection"].values())
    if len(collections) < 2:
        raise ValueError("alpha calibration needs at least 2 collections")
    curves, best = {}, {}
    for k in KS:
        topk = np.array([c[k] for c in collections], dtype=np.float64)
        if topk.sum() == 0:
            continue  # every collection at 0: no distribution to compare with
        curves[k] = [jsd(np.array([cvi_from_parts(c, a) for c in collections]), topk) for a in alphas]
        best[k] = alphas[int(np.argmin(curves[k]))]
    return {"alphas": list(alphas), "jsd": curves, "best_alpha": best}


MIN_CORRELATION_COLLECTIONS = 3  # a rank correlation over 2 collections is always -1 or 1


def rank_correlation(report: dict) -> dict[str, float]:
    """Spearman correlation across collections between CVI and each top-k (the paper's claim: positive); empty
    with fewer than `MIN_CORRELATION_COLLECTIONS` collections, where it says nothing."""
    collections = list(report["per_collection"].values())
    if len(collections) < MIN_CORRELATION_COLLECTIONS:
        return {}
    cvi = [c["cvi"] for c in collections]
    out = {}
    for k in KS:
        values = [c[k] for c in collections]
        rho = spearmanr(cvi, values).statistic if len(set(values)) > 1 and len(set(cvi)) > 1 else float("nan")
        out[k] = float(rho)
    return out


def plot_alpha_curve(calibration: dict, path: str | Path) -> None:
    """The JSD-versus-alpha curves as a PNG (paper, Figure 11)."""
    matplotlib = import_extra("matplotlib", "plots", "the alpha curve (alpha_curve.png)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for k, curve in calibration["jsd"].items():
        axes.plot(
            calibration["alphas"],
            curve,
            marker="o",
            markersize=3,
            label=f"{k} (best alpha {calibration['best_alpha'][k]})",
        )
    axes.set_xlabel("alpha")
    axes.set_ylabel("JSD(CVI, top-k), L1-normalised over collections")
    axes.set_title("CVI alpha calibration")
    axes.legend()
    figure.tight_layout()
    atomic_write_png(path, figure)
    plt.close(figure)


def cvi_markdown(report: dict, calibration: dict | None = None, correlation: dict | None = None) -> str:
    lines = [
        f"CVI with alpha = {report['alpha']}; top-k is text-to-image within the collection (paired, percent); "
        "sorted by CVI, hardest first.",
        "",
        "| collection | rows | top1 | top5 | top10 | CVI | image-image | text-text | text-image |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [*report["per_collection"].items(), ("whole split (top-k over the split)", report["whole_split"])]
    for name, r in rows:
        lines.append(
            f"| {markdown_cell(name)} | {r['rows']} | {r['top1']:.1f} | {r['top5']:.1f} | {r['top10']:.1f} | "
            f"{r['cvi']:.5f} | {r['image_image']:.5f} | {r['text_text']:.5f} | {r['text_image']:.5f} |"
        )
    if report["skipped_collections"]:
        lines.append(f"\nSkipped (fewer than 2 pairs): {', '.join(map(markdown_cell, report['skipped_collections']))}")
    if correlation:
        cells = ", ".join(f"{k}: {v:.3f}" for k, v in correlation.items())
        lines.append(f"\nSpearman correlation across collections between CVI and top-k: {cells}")
    elif correlation is not None:
        lines.append(
            f"\nNo correlation between CVI and top-k: {len(report['per_collection'])} collections, and a rank "
            f"correlation needs at least {MIN_CORRELATION_COLLECTIONS} (over 2 it is always -1 or 1)."
        )
    if calibration:
        cells = ", ".join(f"{k}: {v}" for k, v in calibration["best_alpha"].items())
        lines.append(f"\nAlpha with the lowest JSD between per-collection CVI and top-k: {cells}")
    return "\n".join(lines) + "\n"


def write_cvi(report: dict, output_dir: Path, calibration: dict | None = None) -> str:
    """``cvi.json`` and ``cvi.md`` (and ``alpha_curve.png`` with a calibration) in `output_dir`; returns the
    Markdown."""
    if calibration:
        report = {**report, "calibration": calibration}
        plot_alpha_curve(calibration, output_dir / "alpha_curve.png")
    markdown = cvi_markdown(report, calibration, report.get("spearman"))
    atomic_write_text(output_dir / "cvi.json", json.dumps(report, indent=2))
    atomic_write_text(output_dir / "cvi.md", markdown)
    return markdown
