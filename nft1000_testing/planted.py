"""Modified copies of a collection's tokens, as a pirate would make them: the test set of piracy detection."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from nft1000_io.atomic import atomic_write_text

MODIFICATIONS = ("recolour", "flip", "crop", "jpeg", "upscale")


def modify(image: Image.Image, kind: str) -> Image.Image:
    """One modified copy of `image`: channels rotated (recolour), mirrored, cropped by 10 % (5 % from each side)
    and scaled back, re-encoded as JPEG (quality 60), or scaled down to a quarter and back up."""
    rgb = image.convert("RGB")
    if kind == "recolour":
        return Image.fromarray(np.asarray(rgb)[:, :, [2, 0, 1]])
    if kind == "flip":
        return rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if kind == "crop":
        w, h = rgb.size
        return rgb.crop((w // 20, h // 20, w - w // 20, h - h // 20)).resize((w, h), Image.Resampling.BICUBIC)
    if kind == "jpeg":
        buffer = io.BytesIO()
        rgb.save(buffer, format="JPEG", quality=60)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    if kind == "upscale":
        w, h = rgb.size
        return rgb.resize((w // 4, h // 4), Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BICUBIC)
    raise ValueError(f"unknown modification {kind!r}; known: {', '.join(MODIFICATIONS)}")


def plant_pirate_collection(
    release_dir: str | Path, source: str, name: str, per_modification: int, seed: int = 0
) -> dict[str, dict[str, str]]:
    """Write collection `name` into a release folder (the layout `nft1000 build` reads): `per_modification`
    tokens of collection `source` (a folder of the same release) for each modification, with the source's
    metadata. Returns and writes (``<release>/../pirates.json``) pirate token id -> {source token id, modification}."""
    release_dir = Path(release_dir)
    images = sorted((release_dir / source / "images").glob("*.png"))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(images), size=min(len(images), per_modification * len(MODIFICATIONS)), replace=False)
    target = release_dir / name
    (target / "images").mkdir(parents=True, exist_ok=True)
    (target / "metadata").mkdir(parents=True, exist_ok=True)
    truth = {}
    for number, position in enumerate(chosen):
        kind = MODIFICATIONS[number % len(MODIFICATIONS)]
        original = images[position]
        source_id = original.stem.rsplit("_", 1)[1]
        with Image.open(original) as image:
            modify(image, kind).save(target / "images" / f"{name}_{number}.png")
        metadata = json.loads((release_dir / source / "metadata" / f"{original.stem}.json").read_text())
        metadata["name"] = f"{name} #{number}"
        (target / "metadata" / f"{name}_{number}.json").write_text(json.dumps(metadata))
        truth[str(number)] = {"source_token_id": source_id, "modification": kind}
    atomic_write_text(
        release_dir.parent / "pirates.json", json.dumps({"source": source, "name": name, "tokens": truth})
    )
    return truth
