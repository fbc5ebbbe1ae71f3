"""Training throughput of CLIP: our pipeline (masking collator + global-batch loss) against a plain baseline
(datasets + `CLIPProcessor` + default DataLoader + `CLIPModel`'s built-in loss), in the same run, with the time
split into waiting for data and compute (forward, backward, optimizer step).

    python benchmarks/train_speed.py                      # --model tiny on CPU
    python benchmarks/train_speed.py --model vit-b32 --device cuda --precision bf16 --batch-size 256 --workers 8

``vit-b32`` is ViT-B/32 CLIP built from its config (no download) at 224 px. Goal on a GPU (issue 21): ours with
the defaults >= 1.5x the baseline at ViT-B/32, bf16, batch 256. Each of train_clip.py's speed options is measured
on its own and all together (fused AdamW, TF32, torch.compile, eager vs sdpa attention), with MFU: the model's
FLOPs per sample from its config (6 x parameters x tokens of each tower; attention's own FLOPs left out) against
the peak of a large matmul measured in the same run and precision. ``--dataset DIR`` uses the training split of
an export with its ``components`` config instead of synthesising and separating one here (the slow, CPU-only
part of the set-up).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import os
import tempfile
import time
from pathlib import Path

import torch
from datasets import concatenate_datasets, load_dataset
from synthetic_export import synthetic_export
from torch.utils.data import DataLoader
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

from modeling.masking.collator import DynamicMaskingCollator
from modeling.models.clip import TinyClipSpec, build_tiny_clip
from modeling.models.clip_training import global_batch_loss
from modeling.models.tokenizer import train_clip_tokenizer
from modeling.separation.job import separate_dataset
from modeling.separation.library import ComponentLibrary
from modeling.separation.separate import SeparationParams


def build_model(name: str, captions: list[str]) -> tuple[CLIPModel, CLIPProcessor]:
    if name == "tiny":
        return build_tiny_clip(captions, TinyClipSpec())
    tokenizer = train_clip_tokenizer(captions, vocab_size=4096)
    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = CLIPConfig(text_config={"vocab_size": len(tokenizer), **special, "pad_token_id": tokenizer.pad_token_id})
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer)
    return CLIPModel(config), processor


class PlainCollator:
    """The baseline's collate_fn: the processor on PIL images and captions, nothing else."""

    def __init__(self, processor: CLIPProcessor):
        self.processor = processor

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        images = [row["image"].convert("RGB") for row in rows]
        captions = [row["caption"] for row in rows]
        out = self.processor(text=captions, images=images, padding=True, truncation=True, return_tensors="pt")
        return {key: out[key] for key in ("pixel_values", "input_ids", "attention_mask")}


def flops_per_sample(model: CLIPModel, text_tokens: int) -> float:
    """Training FLOPs of one image-text pair: 6 x parameters x tokens per tower (forward 2, backward 4)."""
    vision = model.config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2 + 1
    image_params = sum(p.numel() for p in model.vision_model.parameters())
    text_params = sum(p.numel() for p in model.text_model.parameters())
    return 6.0 * (image_params * patches + text_params * text_tokens)


def peak_flops(device: str, precision: str) -> float:
    """FLOP/s of a large matmul on `device` in the run's precision: the card's (or CPU's) practical peak."""
    n = 8192 if device == "cuda" else 1024
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start, iterations = time.perf_counter(), 20
    for _ in range(iterations):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * iterations / (time.perf_counter() - start)


OPTIONS = {  # train_clip.py's speed options, one at a time, then together
    "ours, p = 0.5, plain (eager attention, AdamW)": {"attn": "eager"},
    "ours, p = 0.5, defaults (sdpa, fused AdamW)": {"fused": True},
    "ours, defaults + TF32": {"fused": True, "tf32": True},
    "ours, defaults + torch.compile": {"fused": True, "compile": True},
    "ours, all": {"fused": True, "tf32": True, "compile": True},
}


def run(model, loader, ours: bool, device: str, precision: str, steps: int, warmup: int, **options) -> dict:
    model.to(device).train()
    model.set_attn_implementation(options.get("attn", "sdpa"))
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = options.get("tf32", False)
    if options.get("compile"):
        model.compile()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=options.get("fused", False))
    autocast = (
        torch.autocast(device_type=device, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    )
    data_time = compute_time = 0.0
    samples, done = 0, 0
    iterator = iter(loader)
    while done < warmup + steps:
        start = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        fetched = time.perf_counter()
        with autocast:
            if ours:
                output = model(**batch)
                loss = global_batch_loss(output.image_embeds, output.text_embeds, model.logit_scale)
            else:
                loss = model(**batch, return_loss=True).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        end = time.perf_counter()
        if done >= warmup:
            data_time += fetched - start
            compute_time += end - fetched
            samples += batch["input_ids"].shape[0]
        done += 1
    total = data_time + compute_time
    flops = flops_per_sample(model, batch["input_ids"].shape[1])
    return {"samples_per_s": samples / total, "data_s": data_time / steps, "compute_s": compute_time / steps,
            "flops": flops}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "vit-b32"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("no", "bf16"), default="no")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--collections", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--num-proc", type=int, default=2, help="processes that synthesise and separate")
    parser.add_argument("--repeat", type=int, default=1, help="rows repeated so that an epoch spans many batches")
    parser.add_argument("--dataset", help="an export with a components config (default: synthesise one)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset:
            dataset, library = load_dataset(args.dataset, "full", split="train"), ComponentLibrary.load(args.dataset)
        else:
            dataset = synthetic_export(Path(tmp), args.collections, args.tokens, num_proc=args.num_proc)
            library = ComponentLibrary.from_results(separate_dataset(dataset, SeparationParams(), args.num_proc))
        torch.manual_seed(0)
        model, processor = build_model(args.model, dataset["caption"])
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        rows = dataset.select_columns(["image", "caption", "collection", "attributes", "token_id"])
        rows = concatenate_datasets([rows] * args.repeat)  # an epoch long enough for every worker's prefetch

        def loader(collate_fn):
            return DataLoader(
                rows, batch_size=args.batch_size, shuffle=True, drop_last=True, collate_fn=collate_fn,
                num_workers=args.workers, pin_memory=args.device == "cuda", persistent_workers=args.workers > 0,
            )  # fmt: skip

        masked = loader(DynamicMaskingCollator(processor, library, mask_prob=0.5))
        variants = {
            "baseline: CLIPProcessor + DataLoader + built-in loss": (loader(PlainCollator(processor)), False, {}),
            "ours, p = 0, defaults": (loader(DynamicMaskingCollator(processor, mask_prob=0.0)), True, {"fused": True}),
            **{name: (masked, True, options) for name, options in OPTIONS.items()},
        }
        results = {}
        for name, (data, ours, options) in variants.items():
            fresh = copy.deepcopy(model)  # compile and attention settings stay with their variant
            fresh.load_state_dict(initial)
            results[name] = run(fresh, data, ours, args.device, args.precision, args.steps, args.warmup, **options)
        peak = peak_flops(args.device, args.precision)
    print(
        f"model {args.model}, {args.device}, precision {args.precision}, batch {args.batch_size}, "
        f"{args.workers} workers, {args.steps} timed steps after {args.warmup}, "
        f"torch threads {torch.get_num_threads()}, measured matmul peak {peak / 1e12:.2f} TFLOP/s\n"
    )
    print("| pipeline | samples/s | data s/step | compute s/step | vs baseline | MFU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    base = next(iter(results.values()))["samples_per_s"]
    for name, r in results.items():
        print(
            f"| {name} | {r['samples_per_s']:.0f} | {r['data_s']:.3f} | {r['compute_s']:.3f} | "
            f"{r['samples_per_s'] / base:.2f}x | {r['samples_per_s'] * r['flops'] / peak:.1%} |"
        )


if __name__ == "__main__":
    main()
