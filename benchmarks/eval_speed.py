"""Top-k retrieval evaluation: time and peak memory of the chunked exact evaluation against the naive full
N x N matrix, on random d = 512 embeddings (both directions' cost is the same; one direction is timed, with
the attribute-exact groups, as the real evaluation runs it). Each measurement runs in a fresh process
(`measured.py`): peak memory is what it needed above the embeddings themselves.

    python benchmarks/eval_speed.py [--sizes 10000 100000] [--device cpu|cuda] [--naive-max 20000]

On a GPU add --device cuda --sizes 10000 100000 1000000. Goal (issue 4): memory flat in N; at N = 10^4 no slower
than naive; the chunked matmuls' FLOP rate next to the machine's measured matmul rate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from measured import measure

from evaluation.retrieval import naive_hits, retrieval_hits


def random_pairs(n: int, d: int, device: str):
    """Normalised pairs and groups of 4; on a GPU both methods run once on a small input first, so that CUDA's
    lazily loaded kernels and cuBLAS's set-up are not timed."""
    torch.manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(n, d), dim=1)
    gallery = torch.nn.functional.normalize(queries + 0.5 * torch.randn(n, d), dim=1)
    if device == "cuda":
        small = queries[:2048].to(device), gallery[:2048].to(device), np.arange(2048) // 4, device
        chunked_top1(*small), naive_top1(*small)
    return queries.to(device), gallery.to(device), np.arange(n) // 4, device


def chunked_top1(queries, gallery, groups, device) -> float:
    return float(retrieval_hits(queries, gallery, groups, device=device)["paired"][1].mean())


def naive_top1(queries, gallery, groups, device) -> float:
    return float(naive_hits(queries, gallery, groups)["paired"][1].mean())


def matmul_rate(device: str, size: int = 4096, d: int = 512, repeats: int = 5) -> float:
    """The machine's float32 matmul rate (GFLOP/s) on a (size x d) @ (d x size) product."""
    a, b = torch.randn(size, d, device=device), torch.randn(d, size, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size * size * d / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--naive-max", type=int, default=20_000, help="largest N the naive N x N version runs at")
    args = parser.parse_args()
    rate = matmul_rate(args.device)
    print(f"device: {args.device}, torch threads: {torch.get_num_threads()}, matmul rate: {rate:.0f} GFLOP/s\n")
    print("| N | method | seconds | peak memory (MiB) | GFLOP/s | vs machine matmul | vs naive time | top-1 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        flops = 2 * n * n * args.dim
        naive_seconds = None
        methods = ["naive", "chunked"] if n <= args.naive_max else ["chunked"]
        for method in methods:
            function = naive_top1 if method == "naive" else chunked_top1
            seconds, peak, top1 = measure(random_pairs, function, n, args.dim, args.device, cuda=args.device == "cuda")
            naive_seconds = seconds if method == "naive" else naive_seconds
            ratio = f"{naive_seconds / seconds:.2f}x" if naive_seconds else "does not fit"
            rate_here = flops / seconds / 1e9
            print(
                f"| {n:,} | {method} | {seconds:.2f} | {peak / 2**20:,.0f} | {rate_here:.0f} | "
                f"{rate_here / rate:.2f} | {ratio} | {100 * top1:.1f} |"
            )


if __name__ == "__main__":
    main()
