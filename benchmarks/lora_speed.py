"""Training speed and peak memory of train_lora.py's step (VAE encode, text encoder, UNet denoising loss,
backward, AdamW) for LoRA against full UNet fine-tuning (the baseline), measured in the same run, each variant
in a fresh process (`measured.py`). Images are random pixels: the step's cost does not depend on them.

    python benchmarks/lora_speed.py                                  # tiny pipeline on CPU, 64 px
    python benchmarks/lora_speed.py --model sd15 --device cuda --precision bf16 --resolution 512 --batch-size 8

``sd15`` is a UNet, VAE and text encoder built at Stable Diffusion 1.5's size from configs (random weights).
"""

from __future__ import annotations

import argparse
import time

import testing_path  # noqa: F401  (nft1000_testing is not installed)
import torch
from diffusers import DDPMScheduler
from measured import measure

from modeling.models.diffusion import SD_BETAS, build_tiny_pipeline
from modeling.models.lora_training import add_lora, denoising_loss, encode_latents
from modeling.models.tokenizer import train_clip_tokenizer
from nft1000_testing.sd15 import sd15_sized_parts

WORDS = ["Azuki style PFP, red hair, kimono, gold earring", "a pixel punk with a cap", "green background"]
VARIANTS = ("full UNet fine-tune (baseline)", "LoRA", "LoRA + gradient checkpointing")


def setup(model: str, variant: str, device: str, precision: str, rank: int, batch: int, resolution: int):
    torch.manual_seed(0)
    if model == "tiny":
        pipeline = build_tiny_pipeline(WORDS * 10)
        unet, vae, text_encoder, tokenizer = pipeline.unet, pipeline.vae, pipeline.text_encoder, pipeline.tokenizer
    else:
        tokenizer = train_clip_tokenizer(WORDS * 10, vocab_size=512)
        unet, vae, text_encoder = sd15_sized_parts(tokenizer)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    vae.to(device, dtype=dtype).requires_grad_(False)
    text_encoder.to(device, dtype=dtype).requires_grad_(False)
    if variant == VARIANTS[0]:
        unet.to(device)  # fp32 master weights, autocast in the step, as full fine-tuning scripts do
        params = list(unet.parameters())
    else:
        unet.to(device, dtype=dtype)
        params = add_lora(unet, rank=rank)
        if variant == VARIANTS[2]:
            unet.enable_gradient_checkpointing()
    unet.train()
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    scheduler = DDPMScheduler(**SD_BETAS, num_train_timesteps=1000)
    pixels = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1
    ids = tokenizer(WORDS[:1] * batch, padding="max_length", max_length=77, return_tensors="pt").input_ids.to(device)
    trainable = sum(p.numel() for p in params)
    return unet, vae, text_encoder, scheduler, optimizer, params, pixels, ids, precision, trainable


def train_steps(unet, vae, text_encoder, scheduler, optimizer, params, pixels, ids, precision, trainable, steps=10):
    device = pixels.device.type
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step() -> None:
        with autocast:
            with torch.no_grad():
                latents = encode_latents(vae, pixels)
                hidden = text_encoder(ids, return_dict=False)[0]
            loss = denoising_loss(unet, scheduler, latents, hidden)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):  # warm-up: allocator, kernels, optimizer state
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    rate = steps / (time.perf_counter() - start)
    return rate, trainable, torch.cuda.max_memory_allocated() if device == "cuda" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "sd15"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("no", "bf16"), default="no")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rank", type=int, default=4)
    args = parser.parse_args()
    cuda = args.device == "cuda"
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"model {args.model}, {name}, precision {args.precision}, {args.resolution} px, batch {args.batch_size}, "
        f"LoRA rank {args.rank}, 10 timed steps after 2\n"
    )
    print(
        "| variant | trainable parameters | steps/s | images/s | peak memory above the weights (GiB) | "
        "peak GPU memory, all (GiB) | vs baseline speed |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    base = None
    for variant in VARIANTS:
        setup_args = (args.model, variant, args.device, args.precision, args.rank, args.batch_size, args.resolution)
        _, peak, (rate, trainable, total) = measure(setup, train_steps, *setup_args, cuda=cuda)
        base = base or rate
        total_text = f"{total / 2**30:.2f}" if total is not None else "n/a"
        print(
            f"| {variant} | {trainable / 1e6:.2f} M | {rate:.2f} | {rate * args.batch_size:.1f} | "
            f"{peak / 2**30:.2f} | {total_text} | {rate / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
