"""Collator throughput: samples/s in one process (one DataLoader worker) at 224 px.

Rows hold the PNG bytes, so every method pays the decode (the collator keeps no resized image, as in an epoch
over a dataset bigger than its image cache; one last row with the cache, as from the second epoch on of a small
training set). The baseline is the plain pipeline (Pillow decode + `CLIPImageProcessor` + tokenizer, no
masking), measured in the same run. The collator is measured with each PNG decoder it can use: libspng (`pyspng`,
the `fast` extra) where installed, and Pillow. Goals (issue 3): the masking collator at p = 0.5 at least as fast
as the plain pipeline (ratio >= 1.0), and >= 250 samples/s per core.

    python benchmarks/collator_speed.py [--tokens 200] [--batch-size 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import tempfile
import time
from pathlib import Path

from datasets import Image as ImageFeature
from PIL import Image
from synthetic_export import synthetic_export
from transformers import CLIPImageProcessor

import modeling.images as decoder_module
from modeling.masking.collator import DEFAULT_IMAGE_CACHE_BYTES, DynamicMaskingCollator
from modeling.models.tokenizer import train_clip_tokenizer
from modeling.separation.job import separate_dataset
from modeling.separation.library import ComponentLibrary
from modeling.separation.separate import SeparationParams


def throughput(run, rows, batch_size: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(rows), batch_size):
            run(rows[i : i + batch_size])
        best = min(best, time.perf_counter() - start)
    return len(rows) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = synthetic_export(root, args.collections, args.tokens)
        library = ComponentLibrary.from_results(separate_dataset(dataset, SeparationParams(), 2))
        tokenizer = train_clip_tokenizer(dataset["caption"], vocab_size=1000)
        rows = list(dataset.cast_column("image", ImageFeature(decode=False)))
        processor = CLIPImageProcessor()

        def plain(batch):
            images = [Image.open(io.BytesIO(r["image"]["bytes"])).convert("RGB") for r in batch]
            processor(images=images, return_tensors="pt")
            tokenizer([r["caption"] for r in batch], padding=True, truncation=True, max_length=77, return_tensors="pt")

        def collator(p, image_cache_bytes=1):  # 1 byte: no resized image kept, as over a dataset bigger than it
            return DynamicMaskingCollator(
                image_processor=processor, tokenizer=tokenizer, library=library, mask_prob=p, seed=0,
                image_cache_bytes=image_cache_bytes,
            )  # fmt: skip

        collator(0.5)(rows[:64])  # decode each collection's masks once, as a worker does on its first batches
        rates = {
            "plain pipeline (decode + CLIPImageProcessor + tokenizer)": throughput(
                plain, rows, args.batch_size, args.repeats
            )
        }
        installed = decoder_module.pyspng
        decoders = {"libspng": installed, "Pillow": None} if installed else {"Pillow": None}
        for decoder, module in decoders.items():
            decoder_module.pyspng = module  # the collator's PNG decoder, for this row of the table
            for p in (0.0, 0.5):
                rate = throughput(collator(p), rows, args.batch_size, args.repeats)
                rates[f"masking collator, p = {p:g}, {decoder} decode"] = rate
        decoder_module.pyspng = installed
        warm = collator(0.5, DEFAULT_IMAGE_CACHE_BYTES)
        warm(rows)  # every resized image cached, as from the second epoch on of a small training set
        rates["masking collator, p = 0.5, resized images cached"] = throughput(
            warm, rows, args.batch_size, args.repeats
        )
    width = Image.open(io.BytesIO(rows[0]["image"]["bytes"])).size
    print(
        f"{len(rows)} samples ({width[0]}x{width[1]} PNG -> 224 px), batch {args.batch_size}, best of "
        f"{args.repeats}, one process\n"
    )
    print("| pipeline | samples/s | vs plain |\n| --- | ---: | ---: |")
    base = next(iter(rates.values()))
    for name, rate in rates.items():
        print(f"| {name} | {rate:.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
