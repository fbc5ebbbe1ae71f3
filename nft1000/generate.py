"""Trait-controlled generation with a collection LoRA: ``nft1000 generate --lora DIR --traits "Hair=Pink" ...``.

The prompt is built from the traits with the template the LoRA was trained on; traits are checked against the
collection's (recorded by train_lora.py in ``nft1000_lora.json``), so a misspelt value is an error that lists the
close matches instead of a silently ignored word.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nft1000_dataset.captions import build_prompt
from nft1000_dataset.traits import check_traits, parse_trait
from nft1000_io.atomic import atomic_write_png, atomic_write_text

ADAPTER = "nft1000"


@dataclass
class GenerationRequest:
    """What `nft1000 generate` renders; its defaults are the command's (the module imports torch and diffusers only
    in `generate`, so that the command line's parser reads them cheaply)."""

    base: str | None = None
    lora: Path | None = None
    collection: str | None = None
    traits: list[str] | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    num_images: int = 4
    batch_size: int = 4
    seed: int = 0
    num_inference_steps: int = 30
    guidance_scale: float = 7.5
    lora_scale: float = 1.0
    device: str | None = None


def lora_info(lora: Path | None) -> dict:
    """What train_lora.py recorded beside the weights (empty without a LoRA or for a foreign one); a folder with
    no LoRA weights at all is an error that says so."""
    from modeling.models.lora_training import LORA_INFO

    if lora is None:
        return {}
    if lora.is_dir() and not list(lora.glob("*lora*.safetensors")):
        raise FileNotFoundError(
            f"{lora}: no LoRA weights (*lora*.safetensors) in this folder; give the folder that train_lora.py wrote"
        )
    path = lora / LORA_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def resolve_prompt(request: GenerationRequest, info: dict) -> str:
    """`--prompt` as given, or the template's prompt for `--traits`, checked against the collection's traits."""
    if (request.prompt is None) == (request.traits is None):
        raise ValueError("give either --prompt or --traits")
    if request.prompt is not None:
        return request.prompt
    collection = request.collection or info.get("collection")
    if collection is None:
        raise ValueError("--traits needs --collection (or a LoRA trained by train_lora.py, which records it)")
    if info.get("collection") not in (None, collection):
        raise ValueError(f"the LoRA was trained on {info['collection']!r}, not {collection!r}")
    attributes = [parse_trait(spec) for spec in request.traits]
    if "traits" in info:
        check_traits(attributes, info["traits"], collection)
    return build_prompt(collection, attributes)


def resolve_base(request: GenerationRequest, info: dict) -> str:
    """`--base`, else the base the LoRA was trained on (a tiny base lies inside the LoRA folder)."""
    if request.base is not None:
        return request.base
    from modeling.models.diffusion import DEFAULT_DIFFUSION_MODEL

    recorded = info.get("base_model")
    if recorded is None:
        return DEFAULT_DIFFUSION_MODEL
    inside = request.lora / recorded
    return str(inside) if inside.is_dir() else recorded


def generate(request: GenerationRequest, out: Path) -> dict:
    """Write ``out/<i>.png`` for each image, ``out/grid.png`` and ``out/generation.json``; returns the record."""
    import torch
    from diffusers.utils import make_image_grid

    from modeling.models.diffusion import load_pipeline

    info = lora_info(request.lora)
    prompt = resolve_prompt(request, info)
    pipeline = load_pipeline(resolve_base(request, info))
    device = request.device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipeline.to(device)
    pipeline.set_progress_bar_config(desc="images")
    if request.lora is not None:
        pipeline.load_lora_weights(str(request.lora), adapter_name=ADAPTER)
        pipeline.set_adapters(ADAPTER, adapter_weights=request.lora_scale)
    out.mkdir(parents=True, exist_ok=True)
    images, seeds = [], []
    for start in range(0, request.num_images, request.batch_size):
        count = min(request.batch_size, request.num_images - start)
        batch_seeds = [request.seed + start + i for i in range(count)]
        generators = [torch.Generator(device="cpu").manual_seed(s) for s in batch_seeds]
        result = pipeline(
            [prompt] * count,
            negative_prompt=[request.negative_prompt] * count if request.negative_prompt else None,
            num_inference_steps=request.num_inference_steps,
            guidance_scale=request.guidance_scale,
            generator=generators,
        )
        images += result.images
        seeds += batch_seeds
    files = []
    for image, seed in zip(images, seeds, strict=True):
        path = out / f"seed-{seed}.png"
        atomic_write_png(path, image)
        files.append(path.name)
    columns = next(c for c in (4, 3, 2, 1) if len(images) % c == 0)  # a full grid
    atomic_write_png(out / "grid.png", make_image_grid(images, rows=len(images) // columns, cols=columns))
    record = {
        "prompt": prompt,
        "base": resolve_base(request, info),
        "lora": str(request.lora) if request.lora else None,
        "lora_scale": request.lora_scale,
        "seeds": seeds,
        "files": files,
        "num_inference_steps": request.num_inference_steps,
        "guidance_scale": request.guidance_scale,
    }
    atomic_write_text(out / "generation.json", json.dumps(record, indent=2))
    return record
