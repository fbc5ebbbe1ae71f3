"""Peak memory and time of separating one collection of NFT1000's largest shape: real-like collections of
10,000 tokens (~450 visual values, and ~100 values of a numeric trait on the smooth one), each separated in a
fresh process whose peak RSS is read from the kernel (``ru_maxrss``). Goal (issue 16): <= 2 GiB.

    python benchmarks/separation_memory.py [--tokens 10000] [--variant clean]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from pathlib import Path


def separate_one(dataset_dir: str, name: str, queue) -> None:
    """In a fresh process: separate `name` and report (seconds, values considered, components, peak MB)."""
    logging.disable(logging.INFO)
    from modeling.images import RowImages
    from modeling.separation.separate import SeparationParams, separate_collection
    from nft1000_dataset.exported import load_collections

    rows = load_collections(dataset_dir, [name], "full")
    attributes = rows["attributes"]
    values = {(a["trait_type"], a["value"]) for token in attributes for a in token}
    started = time.perf_counter()
    result = separate_collection(name, attributes, RowImages(rows, list(range(len(rows)))), SeparationParams())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, len(rows), len(values), len(result.components), result.grid, peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--variant", default="clean", choices=("clean", "resampled", "jpeg"))
    parser.add_argument("--num-proc", type=int, default=2, help="for the synthesis and the build only")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from measured import in_fresh_process
    from synthetic_export import synthetic_export

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = synthetic_export(root, 2, args.tokens, 0, args.num_proc, style="real-like", variant=args.variant)
        names = sorted(set(dataset["collection"]))
        print(f"\n{os.cpu_count()} CPUs, one process per collection, variant {args.variant}\n")
        print("| collection | tokens | values | components | working grid | seconds | peak RSS (MB) |")
        print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
        for name in names:
            seconds, tokens, values, components, grid, peak = in_fresh_process(separate_one, str(root / "d"), name)
            kind = f"{grid.cells[1]}x{grid.cells[0]} {'pixel' if grid.native else 'blocks'}"
            print(f"| {name} | {tokens:,} | {values} | {components} | {kind} | {seconds:.0f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
