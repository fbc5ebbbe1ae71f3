"""Masking at the model's image size against masking at full size, on an export with the ``components`` config.

The reference is the collator's ``mask_at="full"``: a component's pixels are filled at full size, then the image
is resized. For each component that shows in a token, the pixels the reference visibly changes (any channel by
more than 24) are compared with the pixels that masking at the resized size (``mask_at="resized"``, masks grown
by one pixel) fills: covered and missed are shares of the reference's pixels, extra is what the resized masks
fill beyond them, also as a share of the reference's pixels. Then the collator's speed both ways at p = 0.5
(samples/s in one process, best of --repeats, from the second epoch on: resized images cached; a masked image at
full size is decoded and resized every time), as a ratio against the resized path measured in the same run.

    python benchmarks/mask_size.py --dataset DIR [--sizes 32 64 224] [--tokens 200]
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from collator_speed import throughput
from datasets import Image as ImageFeature
from datasets import load_dataset
from transformers import CLIPImageProcessor

from modeling.images import decoded
from modeling.masking.collator import DynamicMaskingCollator, ImagePipeline
from modeling.masking.masker import DynamicMasker
from modeling.models.tokenizer import train_clip_tokenizer
from modeling.separation.library import ComponentLibrary

VISIBLE = 24


def processor(size: int) -> CLIPImageProcessor:
    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def agreement(rows, library: ComponentLibrary, size: int) -> tuple[float, float, float]:
    """(covered, missed, extra) over every shown component of every row, as shares of the reference's pixels."""
    pipeline = ImagePipeline(processor(size))
    at_full, at_size = DynamicMasker(library, dilate=0), DynamicMasker(library, dilate=1)
    grey = np.asarray(at_full.fill_value, dtype=np.uint8)
    covered = missed = extra = 0
    for row in rows:
        image = np.asarray(decoded(row["image"]))
        resized = pipeline.resize(image)
        small = at_size.candidates(resized, row["collection"], row["attributes"])
        for key, pixels in at_full.candidates(image, row["collection"], row["attributes"]).items():
            reference = image.copy()
            reference[pixels] = grey
            changed = np.abs(pipeline.resize(reference).astype(np.int16) - resized).max(axis=-1) > VISIBLE
            filled = small.get(key, np.zeros(changed.shape, dtype=bool))
            covered += int((changed & filled).sum())
            missed += int((changed & ~filled).sum())
            extra += int((~changed & filled).sum())
    total = max(covered + missed, 1)
    return covered / total, missed / total, extra / total


def speed(rows, library, tokenizer, size: int, mask_at: str, batch_size: int, repeats: int) -> float:
    collator = DynamicMaskingCollator(
        image_processor=processor(size), tokenizer=tokenizer, library=library, mask_prob=0.5, mask_at=mask_at
    )
    collator(rows)  # warm: resized images cached, as from the second epoch on
    return throughput(collator, rows, batch_size, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 224])
    parser.add_argument("--tokens", type=int, default=200, help="tokens spread over the split")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    dataset = load_dataset(args.dataset, "full", split=args.split).cast_column("image", ImageFeature(decode=False))
    rows = list(dataset.select(range(0, len(dataset), max(1, len(dataset) // args.tokens))))
    library = ComponentLibrary.load(args.dataset)
    tokenizer = train_clip_tokenizer([row["caption"] for row in rows], vocab_size=1000)
    print(f"{args.dataset}: {len(rows)} tokens, p = 0.5 for speed\n")
    print("| size | covered | missed | extra | resized masks, samples/s | full-size masks, samples/s | ratio |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        covered, missed, extra = agreement(rows, library, size)
        fast, full = (
            speed(rows, library, tokenizer, size, at, args.batch_size, args.repeats) for at in ("resized", "full")
        )
        print(f"| {size} | {covered:.1%} | {missed:.1%} | {extra:.1%} | {fast:.0f} | {full:.0f} | {full / fast:.2f} |")


if __name__ == "__main__":
    main()
