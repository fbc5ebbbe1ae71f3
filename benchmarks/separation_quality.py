"""Component separation against the synthetic ground truth: IoU per mode, style and layer kind, and time.

Modes: ``easy`` (8 collections x 600 tokens, ~35 values each, lossless) and ``real-like`` in its three variants
(``clean``, ``resampled``, ``jpeg``: 2 collections x 2,000 tokens, ~450 values each, near colours). Each is
synthesised, exported and separated with our method (peeling); the easy mode also with the paper's literal
recipe. Every visual value with >= 8 carriers is scored (`nft1000_testing.component_eval`), a value without a
component as 0, and the table shows how many had none. Goals (issue 16): token IoU >= 0.90 per layer kind on
real-like clean and resampled, >= 0.85 on jpeg, easy mode >= 0.97; <= 60 s per 2,000-token, 450-value
collection on one process. The real-like modes add two collections that are not layered art (noise fields,
gradients): they must be reported as such and get no components.

    python benchmarks/separation_quality.py [--modes easy real-like:clean ...] [--num-proc 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import testing_path  # noqa: F401  (nft1000_testing is not installed)
from synthetic_export import synthetic_export

from modeling.images import RowImages
from modeling.separation.job import separate_dataset
from modeling.separation.separate import SeparationParams
from nft1000_dataset.exported import rows_by_collection
from nft1000_testing.component_eval import score_collection, summarize

MODES = ("easy", "real-like:clean", "real-like:resampled", "real-like:jpeg")
SIZES = {"easy": (8, 600), "real-like": (2, 2000)}  # collections, tokens


def run_mode(mode: str, method: str, args) -> tuple[list[dict], list]:
    """(table rows, separation results) of one mode with one method."""
    style, _, variant = mode.partition(":")
    collections, tokens = SIZES[style]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        options = {"style": style, "variant": variant or "clean"}
        if style == "real-like":  # and two collections that are not layered art (noise fields, gradients)
            options["non_layered"] = 2
        dataset = synthetic_export(root, collections, tokens, args.seed, args.num_proc, **options)
        groups = rows_by_collection(dataset)
        token_ids = dataset["token_id"]
        results = separate_dataset(dataset, replace(SeparationParams(), method=method), args.num_proc)
        scores = []
        for result in results:
            rows = groups[result.collection]
            ids = [token_ids[i] for i in rows]
            scores += score_collection(result, ids, RowImages(dataset, rows), root / "s" / "ground_truth")
    return summarize(scores), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"seed {args.seed}, {os.cpu_count()} CPUs, {args.num_proc} processes\n")
    print("| mode | method | style | layer kind | values | no component | footprint IoU | token IoU |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
    timings = []
    for mode in args.modes:
        for method in ("peel", "paper") if mode == "easy" else ("peel",):
            start = time.perf_counter()
            table, results = run_mode(mode, method, args)
            timings.append((mode, method, time.perf_counter() - start, results))
            for row in table:
                if (row["style"] == "all" and row["kind"] == "all") or row["style"] != "all":
                    print(
                        f"| {mode} | {method} | {row['style']} | {row['kind']} | {row['values']} | {row['missing']} "
                        f"| {row['footprint_iou']:.3f} | {row['token_iou']:.3f} |",
                        flush=True,
                    )
    print("\n| mode | method | collection | tokens | components | tolerance | working grid | explained | seconds |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: |")
    for mode, method, _, results in timings:
        for r in results:
            grid = f"{r.grid.cells[1]}x{r.grid.cells[0]} {'pixel' if r.grid.native else 'blocks'}" if r.grid else "-"
            print(
                f"| {mode} | {method} | {r.collection} | {r.tokens} | {len(r.components)} | {r.tolerance} | {grid} "
                f"| {r.explained:.0%}{' (not layered)' if r.not_layered else ''} | {r.seconds:.1f} |"
            )
    print("\n| mode | method | wall seconds (synthesis, build, separation, scoring) | CPU s per 1,000 tokens |")
    print("| --- | --- | ---: | ---: |")
    for mode, method, seconds, results in timings:
        cpu = sum(r.seconds for r in results) / sum(r.tokens for r in results) * 1000
        print(f"| {mode} | {method} | {seconds:.0f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
