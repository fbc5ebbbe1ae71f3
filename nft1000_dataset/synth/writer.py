"""One synthetic collection written in the release layout (a folder or a zip) with its ground truth."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nft1000_io.atomic import atomic_write_text, png_bytes

from ..attributes import Attribute
from ..captions import build_prompt
from .art import LAYER_KINDS, composite, draw_layer
from .faults import apply_token_fault
from .real import non_layered_image, vary_image
from .spec import NONE_VALUE, ZIP_TIMESTAMP, CollectionSpec, sample_tokens, token_attributes


def metadata_json(spec: CollectionSpec, token_id: str, attributes: list[Attribute]) -> dict[str, Any]:
    """ERC-721 metadata in the collection's form (OpenSea list, plain dict, or ``traits``)."""
    meta: dict[str, Any] = {"name": f"{spec.name} #{token_id}", "image": f"ipfs://bafysynthetic/{token_id}.png"}
    if spec.metadata_form == "dict":
        meta["attributes"] = {a["trait_type"]: a["value"] for a in attributes if not a["display_type"]}
        meta["attributes"].update({a["trait_type"]: int(a["value"]) for a in attributes if a["display_type"]})
        return meta
    items = []
    for a in attributes:
        item: dict[str, Any] = {"trait_type": a["trait_type"], "value": a["value"]}
        if a["display_type"]:
            item = {"display_type": a["display_type"], "trait_type": a["trait_type"], "value": int(a["value"])}
        items.append(item)
    meta["traits" if spec.metadata_form == "traits" else "attributes"] = items
    return meta


def release_caption(spec: CollectionSpec, attributes: list[Attribute]) -> str:
    """The release's own caption text (a different template from ours, as in the real release)."""
    words = ", ".join(f"{a['value']} {a['trait_type'].lower()}" for a in attributes if a["value"] != NONE_VALUE)
    return f"A {spec.style.kind} {spec.name} NFT featuring {words}."


def dashboard(spec: CollectionSpec, all_attributes: list[list[Attribute]]) -> dict[str, Any]:
    counts: dict[str, Counter] = {}
    for attributes in all_attributes:
        for a in attributes:
            counts.setdefault(a["trait_type"], Counter())[a["value"]] += 1
    return {
        "name": spec.name,
        "token_count": len(all_attributes),
        "image_size": list(spec.style.canvas),
        "trait_types": {t: {"num_values": len(c), "values": dict(c.most_common())} for t, c in counts.items()},
    }


class LayoutWriter:
    """Writes one collection's files into a folder or a zip, with the release's member names."""

    def __init__(self, release_dir: Path, name: str, as_zip: bool):
        self.name = name
        self.zip: zipfile.ZipFile | None = None
        if as_zip:
            self.zip_path = release_dir / f"{name}.zip"
            self.zip = zipfile.ZipFile(self.zip_path.with_suffix(".zip.partial"), "w")
        else:
            self.root = release_dir / name

    def write(self, relative: str, data: bytes) -> None:
        if self.zip is not None:
            info = zipfile.ZipInfo(f"{self.name}/{relative}", date_time=ZIP_TIMESTAMP)
            compress = zipfile.ZIP_STORED if relative.startswith("images/") else zipfile.ZIP_DEFLATED
            self.zip.writestr(info, data, compress_type=compress)
        else:
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
            self.zip_path.with_suffix(".zip.partial").replace(self.zip_path)


def _layer_files(spec: CollectionSpec, gt_dir: Path) -> tuple[dict, dict[str, dict[str, str]]]:
    """Each trait value's RGBA layer, drawn once and written to the ground truth; none for a non-layered one."""
    layer_cache: dict[tuple[str, str], np.ndarray] = {}
    layer_files: dict[str, dict[str, str]] = {}
    if spec.layered:
        return layer_cache, layer_files
    for kind, values in spec.traits.items():
        for k, value in enumerate(values):
            array = draw_layer(spec.style, kind, value.shape, value.colour)
            layer_cache[(kind, value.value)] = array
            relative = f"layers/{kind}/{k}.png"
            (gt_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            (gt_dir / relative).write_bytes(png_bytes(array))
            layer_files.setdefault(kind, {})[value.value] = relative
    return layer_cache, layer_files


def _image_file(spec: CollectionSpec, stem: str, rgb: np.ndarray) -> tuple[str, bytes]:
    """The token's image as the release holds it: a PNG, or after the spec's variant (resampled, JPEG)."""
    if spec.variant == "clean":
        return f"images/{stem}.png", png_bytes(rgb)
    extension = "jpg" if spec.variant == "jpeg" else "png"
    return f"images/{stem}.{extension}", vary_image(rgb, spec.variant, spec.scale)


def write_collection(
    spec: CollectionSpec, n_tokens: int, out: Path, as_zip: bool, token_faults: dict[int, str] | None = None
) -> dict[str, Any]:
    """Render and write one collection and its ground truth; returns its ground-truth summary."""
    token_faults = token_faults or {}
    tokens = sample_tokens(spec, n_tokens)
    gt_dir = out / "ground_truth" / spec.name
    layer_cache, layer_files = _layer_files(spec, gt_dir)
    (gt_dir / "visibility").mkdir(parents=True, exist_ok=True)
    writer = LayoutWriter(out / "release", spec.name, as_zip)
    all_attributes, gt_tokens = [], {}
    for number, token in enumerate(tokens):
        token_id = str(spec.id_base + number * spec.id_step)
        stem = f"{spec.name}_{token_id}"
        present = [(kind, v) for kind, v in token.items() if v is not None and not spec.layered]
        if spec.layered:
            rgb = non_layered_image(spec.seed + number, spec.style.canvas, spec.layered)
            visible = np.zeros(rgb.shape[:2], dtype=np.uint8)
        else:
            rgb, visible = composite([layer_cache[(kind, v.value)] for kind, v in present])
        attributes = token_attributes(spec, token, number)
        all_attributes.append(attributes)
        image_name, image_bytes = _image_file(spec, stem, rgb)
        files = {
            image_name: image_bytes,
            f"metadata/{stem}.json": json.dumps(metadata_json(spec, token_id, attributes), indent=1).encode(),
            f"captions/{stem}.txt": release_caption(spec, attributes).encode(),
            f"prompts/{stem}.txt": build_prompt(spec.name, attributes).encode(),
        }
        if number in token_faults:
            files = apply_token_fault(token_faults[number], stem, rgb, files)
        for relative, data in files.items():
            writer.write(relative, data)
        Image.fromarray(visible).save(gt_dir / "visibility" / f"{stem}.png")
        gt_tokens[token_id] = [{"kind": kind, "trait_type": v.trait_type, "value": v.value} for kind, v in present]
    writer.write("metadata_dashboard.json", json.dumps(dashboard(spec, all_attributes), indent=2).encode())
    writer.close()
    summary = {
        "name": spec.name,
        "style": spec.style.kind,
        "canvas": list(spec.style.canvas),
        "grid": spec.style.grid,
        "abstract": spec.abstract,
        "variant": spec.variant,
        "layered": not spec.layered,
        "visual_traits": {} if spec.layered else {vs[0].trait_type: kind for kind, vs in spec.traits.items()},
        "non_visual_traits": list(spec.numeric_traits),
        "layer_order": list(LAYER_KINDS),
        "layers": layer_files,
        "tokens": gt_tokens,
    }
    atomic_write_text(gt_dir / "collection.json", json.dumps(summary, indent=1))
    return summary
