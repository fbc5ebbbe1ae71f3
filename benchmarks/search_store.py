"""Where a search index's embeddings live, measured (issue 46's question): today's `NFTIndex` (safetensors shards,
exact blockwise top-k in numpy/torch) against a `datasets` dataset of the same embeddings with a faiss index
(`Dataset.add_faiss_index`, flat inner product: exact too) queried with `get_nearest_examples`. Same random
clustered d = 512 embeddings, same queries, same machine, one run: build time, queries/s, agreement of the top-10.

    python benchmarks/search_store.py [--size 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from datasets import Dataset
from search_speed import write_random_index

from nft1000.search.index import NFTIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_random_index(Path(tmp), args.size, 512)
        start = time.perf_counter()
        index = NFTIndex.open(tmp)
        opened = time.perf_counter() - start
        picks = np.random.default_rng(1).choice(len(index), size=args.queries, replace=False)
        start = time.perf_counter()
        ours = [[h.row for h in index.search_vector(index.image_embeds[row], 10)] for row in picks]
        ours_qps = args.queries / (time.perf_counter() - start)
        start = time.perf_counter()
        dataset = Dataset.from_dict({"image_embeds": index.image_embeds, "row": np.arange(len(index))})
        dataset.add_faiss_index("image_embeds", metric_type=faiss.METRIC_INNER_PRODUCT)
        built = time.perf_counter() - start
        start = time.perf_counter()
        theirs = [
            dataset.get_nearest_examples("image_embeds", index.image_embeds[row], k=10)[1]["row"] for row in picks
        ]
        theirs_qps = args.queries / (time.perf_counter() - start)
    agree = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ours, theirs, strict=True)])
    print(f"N = {args.size:,}, d = 512, {args.queries} queries (indexed image embeddings)\n")
    print("| store | ready in (s) | exact queries/s | vs NFTIndex | top-10 agreement |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| NFTIndex (safetensors shards, blockwise top-k) | {opened:.2f} (open) | {ours_qps:.1f} | 1.00x | 1.000 |")
    print(f"| datasets + add_faiss_index (flat IP), get_nearest_examples | {built:.2f} (from the arrays) | "
          f"{theirs_qps:.1f} | {theirs_qps / ours_qps:.2f}x | {agree:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
