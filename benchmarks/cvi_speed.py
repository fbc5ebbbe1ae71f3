"""CVI: time and peak memory of the exact moment-based computation (`compute_cvi` on arrays) for N = 10^4 to
10^6 pairs at d = 768, next to equation (1) with its N x N matrices where they fit, and the `evaluate` module
path (Arrow buffering) where asked. Each measurement runs in a fresh process (`measured.py`): peak memory is
what it needed above the embeddings themselves.

    python benchmarks/cvi_speed.py [--sizes 10000 100000 1000000] [--naive-max 10000] [--evaluate-max 100000]

Goal (issue 5): 10^6 pairs in under a minute on 2 CPU cores, memory independent of N.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from measured import measure

from evaluation.cvi import compute_cvi, cvi_by_definition

METRIC = str(Path(__file__).resolve().parents[1] / "evaluation" / "cvi")


def random_pairs(n: int, d: int):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((n, d), dtype=np.float32)
    texts = images + rng.standard_normal((n, d), dtype=np.float32)
    return images, texts


def fast(images, texts) -> float:
    return compute_cvi(images, texts)["cvi"]


def naive(images, texts) -> float:
    return cvi_by_definition(images, texts)["cvi"]


def through_evaluate(images, texts) -> float:
    import evaluate

    metric = evaluate.load(METRIC)
    for start in range(0, len(images), 10_000):
        metric.add_batch(image_embeds=images[start : start + 10_000], text_embeds=texts[start : start + 10_000])
    return metric.compute()["cvi"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--naive-max", type=int, default=10_000)
    parser.add_argument("--evaluate-max", type=int, default=10_000)
    args = parser.parse_args()
    print(f"d = {args.dim}, float32 inputs, torch/numpy threads: {torch.get_num_threads()}\n")
    print("| N | method | seconds | peak memory above inputs (MiB) | vs N x N definition | CVI |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        methods = {"compute_cvi (moments)": fast}
        if n <= args.naive_max:
            methods = {"equation (1), N x N matrices": naive, **methods}
        if n <= args.evaluate_max:
            methods["evaluate module (add_batch + compute)"] = through_evaluate
        baseline = None
        for name, function in methods.items():
            seconds, peak, value = measure(random_pairs, function, n, args.dim)
            baseline = seconds if function is naive else baseline
            ratio = f"{baseline / seconds:.1f}x faster" if baseline and function is not naive else "-"
            print(f"| {n:,} | {name} | {seconds:.2f} | {peak / 2**20:,.0f} | {ratio} | {value:.6f} |")


if __name__ == "__main__":
    main()
