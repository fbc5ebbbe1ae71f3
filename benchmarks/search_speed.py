"""Search speed: exact search (one matrix-vector product over the index) against the HNSW index (faiss), on
random clustered d = 512 embeddings (each collection made of groups of similar tokens, as trained embeddings
are; uniform random vectors have no neighbours worth the name) written as a real index: build time, open
time, queries/s, recall@10 of the approximate search against the exact one (queries: indexed image embeddings)
and memory, each size in a fresh process (`measured.py`).

    python benchmarks/search_speed.py [--sizes 100000 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from measured import measure
from safetensors.numpy import save_file

from nft1000.search.index import MANIFEST, NFTIndex


def write_random_index(path: Path, n: int, dim: int, shards: int = 10) -> None:
    """An index of n random normalised embeddings in `shards` collections, written as `NFTIndex` writes one."""
    rng = np.random.default_rng(0)
    (path / "shards").mkdir(parents=True)
    collections = {}
    for s in range(shards):
        rows = n // shards
        centres = rng.standard_normal((max(1, rows // 50), dim), dtype=np.float32)
        image = centres[rng.integers(len(centres), size=rows)] + rng.standard_normal((rows, dim), np.float32)
        image /= np.linalg.norm(image, axis=1, keepdims=True)
        text = image + 0.5 * rng.standard_normal((rows, dim), dtype=np.float32)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        hashes = np.zeros((rows, 6, 32), dtype=np.uint8)
        save_file({"image_embeds": image, "text_embeds": text, "hashes": hashes}, path / "shards" / f"{s}.safetensors")
        meta = "".join(json.dumps({"collection": f"c{s}", "token_id": str(i), "caption": "", "attributes": []}) + "\n"
                       for i in range(rows))  # fmt: skip
        (path / "shards" / f"{s}.jsonl").write_text(meta)
        collections[f"c{s}"] = {"shard": str(s), "rows": rows}
    manifest = {"model": "random", "model_key": "random", "dim": dim, "collections": collections}
    (path / MANIFEST).write_text(json.dumps(manifest))


def setup(path: str, queries: int):
    return path, queries


def run(path: str, queries: int) -> dict:
    start = time.perf_counter()
    index = NFTIndex.open(path)
    opened = time.perf_counter() - start
    start = time.perf_counter()
    index.build_ann(m=16, ef_construction=100)
    built = time.perf_counter() - start
    rng = np.random.default_rng(1)
    picks = rng.choice(len(index), size=queries, replace=False)
    results = {}
    for approximate in (False, True):
        start = time.perf_counter()
        found = [
            {h.row for h in index.search_vector(index.image_embeds[row], 10, approximate=approximate)} for row in picks
        ]  # fmt: skip
        results[approximate] = (found, queries / (time.perf_counter() - start))
    recall = np.mean([len(a & e) / 10 for a, e in zip(results[True][0], results[False][0], strict=True)])
    return {"open_s": opened, "ann_build_s": built, "exact_qps": results[False][1],
            "ann_qps": results[True][1], "recall": recall}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print("| N | open index (s) | HNSW build (s) | exact queries/s | HNSW queries/s | HNSW vs exact | "
          "recall@10 of HNSW | peak memory above the index (MiB) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            write_random_index(Path(tmp), n, args.dim)
            _, peak, r = measure(setup, run, tmp, args.queries)
        print(
            f"| {n:,} | {r['open_s']:.2f} | {r['ann_build_s']:.1f} | {r['exact_qps']:.1f} | {r['ann_qps']:.0f} | "
            f"{r['ann_qps'] / r['exact_qps']:.0f}x | {r['recall']:.3f} | {peak / 2**20:,.0f} |"
        )


if __name__ == "__main__":
    main()
