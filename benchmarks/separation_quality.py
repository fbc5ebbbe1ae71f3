"""Component separation against the synthetic ground truth: IoU per style and layer kind, and time.

Synthesises a release, exports it, separates every collection with our method (peeling layers) and with the
paper's literal recipe (positives only), and scores components with support >= 8 (`modeling.component_eval`).
Goal (issue 3): footprint IoU and token IoU >= 0.90 on average per style and per layer kind.

    python benchmarks/separation_quality.py [--collections 8] [--tokens 600] [--num-proc 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from synthetic_export import synthetic_export

from modeling.collection_rows import RowImages, rows_by_collection
from modeling.component_eval import score_collection, summarize
from modeling.components_job import separate_dataset
from modeling.separation import SeparationParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = synthetic_export(root, args.collections, args.tokens, args.seed, args.num_proc)
        groups = rows_by_collection(dataset)
        token_ids = dataset["token_id"]
        tables = {}
        for method in ("peel", "paper"):
            start = time.perf_counter()
            results = separate_dataset(dataset, replace(SeparationParams(), method=method), args.num_proc)
            seconds = time.perf_counter() - start
            scores = []
            for result in results:
                rows = groups[result.collection]
                ids = [token_ids[i] for i in rows]
                scores += score_collection(result, ids, RowImages(dataset, rows), root / "s" / "ground_truth")
            cpu = sum(r.seconds for r in results)
            tables[method] = (summarize(scores), seconds, cpu, sum(r.tokens for r in results))
    print(f"{args.collections} collections x {args.tokens} tokens, seed {args.seed}, {os.cpu_count()} CPUs\n")
    print(
        "| style | layer kind | components | footprint IoU (ours) | token IoU (ours) | footprint IoU (paper) "
        "| token IoU (paper) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    paper = {(r["style"], r["kind"]): r for r in tables["paper"][0]}
    for row in tables["peel"][0]:
        other = paper.get((row["style"], row["kind"]), {"footprint_iou": float("nan"), "token_iou": float("nan")})
        print(
            f"| {row['style']} | {row['kind']} | {row['components']} | {row['footprint_iou']:.3f} | "
            f"{row['token_iou']:.3f} | {other['footprint_iou']:.3f} | {other['token_iou']:.3f} |"
        )
    print("\n| method | wall seconds | CPU seconds per 1,000 tokens |\n| --- | ---: | ---: |")
    for method, (_, seconds, cpu, tokens) in tables.items():
        print(f"| {method} | {seconds:.0f} | {1000 * cpu / tokens:.1f} |")


if __name__ == "__main__":
    main()
