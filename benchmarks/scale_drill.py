"""NFT1000's size simulated cheaply: a real separated library and a small export replicated under 800 training
and 150 test collection names, and what the package does at that size.

1. The component library: manifest load time and memory with 950 collections.
2. One collator process (p = 0.5, CLIP's 224 px) over a shuffled epoch that meets every training collection:
   its RSS against the collections met, with the default bounded caches and with unbounded ones (what the
   collator did before: every collection met stays in memory), each in a fresh process; and samples/s.
3. Opening one collection of a 950-collection export through ``collections.json`` against reading every split.
4. The evaluation's per-collection tables over 150 test collections (random unit embeddings, NFT1000mini's
   1,000 pairs each).

    python benchmarks/scale_drill.py --dataset DIR   # an export with its components config (nft1000 components)

Goal (issue 17): one collator process that meets 800 collections x ~150 components stays under 1 GiB above its
start, with the same masks and no loss of speed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from measured import in_fresh_process

TRAIN, TEST = 800, 150


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def replicate_library(source: Path, out: Path, names: list[str]) -> dict[str, str]:
    """`out` holding the components of `source`'s collections again under each of `names` (cycling over them);
    returns new name -> source collection."""
    from modeling.separation.library import REPORT_FILE, collection_file

    report = json.loads((source / REPORT_FILE).read_text())
    sources = [name for name, entry in sorted(report.items()) if entry["components"]]
    replicated, origin = {}, {}
    for n, name in enumerate(names):
        original = sources[n % len(sources)]
        file = collection_file(name)
        (out / file).parent.mkdir(parents=True, exist_ok=True)
        os.link(source / report[original]["file"], out / file)
        replicated[name] = {**report[original], "file": file}
        origin[name] = original
    (out / REPORT_FILE).write_text(json.dumps(replicated))
    return origin


def drill_rows(dataset: str, origin: dict[str, str], per_collection: int, seed: int) -> list[dict]:
    """`per_collection` training rows (images undecoded) for each replicated name, shuffled: one epoch."""
    from datasets import Image

    from nft1000_dataset.exported import load_all_splits, rows_by_collection

    rows = load_all_splits(dataset, "full").cast_column("image", Image(decode=False))
    by_collection = rows_by_collection(rows)
    drill = []
    for name, original in origin.items():
        for i in by_collection[original][:per_collection]:
            drill.append({**rows[i], "collection": name})
    random.Random(seed).shuffle(drill)
    return drill


def collator_epoch(library_dir: str, dataset: str, origin: dict[str, str], per_collection: int, bounded: bool, queue):
    """Run in a fresh process: one epoch of the collator; puts (curve, samples/s, start RSS) on `queue`."""
    from transformers import CLIPImageProcessor

    from modeling.masking.collator import DynamicMaskingCollator
    from modeling.models.tokenizer import train_clip_tokenizer
    from modeling.separation.library import ComponentLibrary

    rows = drill_rows(dataset, origin, per_collection, seed=0)
    tokenizer = train_clip_tokenizer([r["caption"] for r in rows[:2000]], vocab_size=400)
    unbounded = 2**62
    library = ComponentLibrary.load(library_dir, **({} if bounded else {"cache_bytes": unbounded}))
    options = {} if bounded else {"window_cache_bytes": unbounded}
    collator = DynamicMaskingCollator(
        image_processor=CLIPImageProcessor(), tokenizer=tokenizer, library=library, mask_prob=0.5, **options
    )
    start_rss, met, curve = rss_mb(), set(), []
    started = time.perf_counter()
    for n in range(0, len(rows), 32):
        batch = rows[n : n + 32]
        collator(batch)
        met.update(r["collection"] for r in batch)
        curve.append((len(met), rss_mb() - start_rss))
    queue.put((curve, len(rows) / (time.perf_counter() - started), start_rss))


def replicate_export(source: Path, out: Path, names: dict[str, str]) -> None:
    """An export of `names` ({name: split}), every collection one shard: a hard link to one small source
    shard, with the index and a card that lists the splits."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    from nft1000_dataset.shard_index import write_index

    shard = sorted((source / "data" / "full").glob("train-*.parquet"))[0]
    entries, counts = {}, {}
    for name, split in names.items():
        counts[split] = counts.get(split, 0) + 1
        file = f"data/full/{split}-{counts[split] - 1:05d}-of-XXXXX.parquet"
        entries[name] = {"split": split, "files": [file]}
    for entry in entries.values():
        entry["files"] = [f.replace("XXXXX", f"{counts[entry['split']]:05d}") for f in entry["files"]]
        (out / entry["files"][0]).parent.mkdir(parents=True, exist_ok=True)
        os.link(shard, out / entry["files"][0])
    write_index(out, {"full": entries})
    data = DatasetCardData()
    paths = [{"split": split, "path": f"data/full/{split}-*.parquet"} for split in counts]
    MetadataConfigs({"full": {"data_files": paths, "default": True}}).to_dataset_card_data(data)
    (out / "README.md").write_text(str(DatasetCard(f"---\n{data.to_yaml()}\n---\n")))


def open_one(folder: str, name: str, cache: str, everything: bool, queue) -> None:
    os.environ["HF_DATASETS_CACHE"] = cache
    from nft1000_dataset.exported import load_all_splits, load_collections

    started = time.perf_counter()
    rows = load_all_splits(folder, "full") if everything else load_collections(folder, [name], "full")
    queue.put((time.perf_counter() - started, len(rows), len({f["filename"] for f in rows.cache_files})))


def evaluation_tables(collections: int, pairs: int, dim: int = 512) -> tuple[float, float]:
    """Seconds and MB (above the embeddings) of the per-collection tables over random unit embeddings; the
    whole-split part is measured by benchmarks/eval_speed.py."""
    from evaluation.embeddings import SplitEmbeddings
    from evaluation.report import per_collection_markdown, per_collection_report

    rng = np.random.default_rng(0)
    n = collections * pairs
    images = rng.standard_normal((n, dim), dtype=np.float32)
    texts = rng.standard_normal((n, dim), dtype=np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    names = [f"collection {c}" for c in range(collections) for _ in range(pairs)]
    before, started = rss_mb(), time.perf_counter()
    report = per_collection_report(SplitEmbeddings(images, texts, names, np.arange(n)))
    per_collection_markdown({"per_collection": report})
    return time.perf_counter() - started, rss_mb() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="an export with its components config")
    parser.add_argument("--rows-per-collection", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = Path(args.dataset)
    names = [f"Replica {n:03d}" for n in range(TRAIN)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        origin = replicate_library(source, root / "library", names)

        from modeling.separation.library import ComponentLibrary

        before, started = rss_mb(), time.perf_counter()
        library = ComponentLibrary.load(str(root / "library"))
        load_seconds, load_mb = time.perf_counter() - started, rss_mb() - before
        components = sum(entry["components"] for entry in library.report.values())
        print(f"## Library: {len(library.collections())} collections, {components:,} components\n")
        print(f"manifest load: {load_seconds * 1000:.0f} ms, {load_mb:.1f} MB\n")

        print("## One collator process over one epoch that meets every training collection\n")
        curves = {}
        for label, bounded in (("bounded caches (default)", True), ("unbounded caches (as before)", False)):
            curve, rate, start = in_fresh_process(
                collator_epoch, str(root / "library"), str(source), origin, args.rows_per_collection, bounded
            )
            curves[label] = curve
            end = curve[-1][1]
            print(f"{label}: {rate:.0f} samples/s, RSS at start {start:.0f} MB, above start at the end {end:.0f} MB")
        print("\n| collections met | " + " | ".join(f"RSS above start, {label} (MB)" for label in curves) + " |")
        print("| ---: |" + " ---: |" * len(curves))
        first = next(iter(curves.values()))
        for step in sorted({min(len(first) - 1, int(len(first) * f)) for f in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)}):
            cells = " | ".join(f"{curve[min(step, len(curve) - 1)][1]:.0f}" for curve in curves.values())
            print(f"| {first[step][0]} | {cells} |")

        print("\n## Opening one collection of a 950-collection export\n")
        splits = {f"Replica {n:03d}": "train" for n in range(TRAIN)}
        splits.update({f"Test {n:03d}": "test" for n in range(TEST)})
        replicate_export(source, root / "export", splits)
        print("| how | seconds | rows | shard files read |\n| --- | ---: | ---: | ---: |")
        for how, everything in (("load_collections (collections.json)", False), ("every split (load_dataset)", True)):
            cache = root / f"cache-{everything}"
            export = str(root / "export")
            seconds, rows, files = in_fresh_process(open_one, export, "Replica 007", str(cache), everything)
            shutil.rmtree(cache, ignore_errors=True)
            print(f"| {how} | {seconds:.2f} | {rows:,} | {files} |")

        print("\n## Per-collection evaluation tables over 150 test collections (d = 512)\n")
        print("| pairs per collection | seconds | MB above the embeddings |\n| ---: | ---: | ---: |")
        for pairs in (1000,):
            seconds, mb = evaluation_tables(TEST, pairs)
            print(f"| {pairs:,} | {seconds:.1f} | {mb:.0f} |")


if __name__ == "__main__":
    main()
