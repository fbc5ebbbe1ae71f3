"""Synthetic layered PFP collections in the exact NFT1000 release layout: the embedded default.

Two styles: ``easy`` (the default: about 35 values a collection, well-separated colours, lossless images) and
``real-like`` (NFT1000's shape: about 450 values, one trait type with 200, near colours, and with ``variant``
resampled or JPEG images; `nft1000_dataset.synth_real`). ``non_layered`` adds collections whose images are not
layers at all (noise fields, gradients), as NFT1000 also holds.

``nft1000 synth --out DIR`` writes::

    DIR/release/<Name>/{images,metadata,captions,prompts}/<Name>_<id>.*  (or DIR/release/<Name>.zip)
    DIR/release/<Name>/metadata_dashboard.json
    DIR/ground_truth/<Name>/collection.json            styles, traits, which attributes are visual
    DIR/ground_truth/<Name>/layers/<kind>/<n>.png      each trait value's RGBA layer (canvas size)
    DIR/ground_truth/<Name>/visibility/<Name>_<id>.png per pixel, 1-based index of the visible layer
    DIR/ground_truth/faults.json                       with --faults: each planted fault and its expected reason

Every token is a unique combination of trait values drawn with rarity weights, composited in a fixed layer
order. Some collections have abstract trait names (no visual meaning in the words) and non-visual numeric
attributes with a ``display_type``. Output depends only on the seed; collections are made in parallel.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .atomic import atomic_write_text
from .attributes import Attribute
from .captions import build_prompt
from .synth_art import COLOURS, LAYER_KINDS, SHAPES, SKINS, Style, composite, draw_layer, pick_style
from .synth_real import PATTERN, VALUE_COUNTS, VARIANTS, non_layered_image, pattern_seeds, trait_palette, vary_image

NAME_WORDS = (
    "Pixel",
    "Neon",
    "Lazy",
    "Cosmic",
    "Bored",
    "Tiny",
    "Mutant",
    "Glitch",
    "Happy",
    "Cyber",
    "Moon",
    "Punk",
)
NAME_NOUNS = ("Apes", "Cats", "Punks", "Frogs", "Bots", "Ghosts", "Bears", "Owls", "Kongs", "Toadz")
ABSTRACT_TYPES = {
    "background": "Realm",
    "body": "Essence",
    "clothing": "Vessel",
    "eyes": "Gaze",
    "mouth": "Utterance",
    "headwear": "Halo",
    "accessory": "Relic",
}
ABSTRACT_WORDS = (
    "Serendipity",
    "Nocturne",
    "Ephemera",
    "Reverie",
    "Solace",
    "Vesper",
    "Halcyon",
    "Lumen",
    "Umbra",
    "Zephyr",
    "Aether",
    "Elegy",
    "Quietus",
    "Sonder",
    "Petrichor",
    "Liminal",
)
ZIP_TIMESTAMP = (2024, 3, 4, 12, 0, 0)  # fixed, so zips are byte-identical for a seed
OPTIONAL_KINDS = ("mouth", "headwear", "accessory")  # these traits have a weighted "None" value
NONE_VALUE = "None"
STYLES = ("easy", "real-like")
REAL_LIKE_NONE_SHARE = {"headwear": 0.3, "accessory": 0.5}  # tokens without the trait, as in real collections
# the attributes of a non-layered collection (values per trait type): they describe nothing visible
NON_LAYERED_TRAITS = {"palette": 16, "mood": 12, "era": 8, "aura": 6}
NON_LAYERED_KINDS = ("noise", "gradient")


@dataclass(frozen=True)
class TraitValue:
    trait_type: str
    kind: str
    value: str
    shape: str
    colour: tuple[int, int, int]
    weight: float


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    seed: int
    style: Style
    traits: dict[str, list[TraitValue]]  # kind -> values
    none_weights: dict[str, float]
    abstract: bool
    numeric_traits: tuple[str, ...]
    metadata_form: str  # "list", "dict" or "traits"
    id_base: int
    id_step: int
    variant: str = "clean"  # what happens to every image after compositing (`synth_real.VARIANTS`)
    scale: float = 1.0  # the LANCZOS factor of the resampled and jpeg variants
    layered: str = ""  # "" for a layered collection, else how its images are made (`NON_LAYERED_KINDS`)


def make_spec(index: int, seed: int, n_tokens: int) -> CollectionSpec:
    """The design of collection number `index`: name, style, trait values with rarity weights.

    Trait values are added until there are at least twice as many combinations as tokens.
    """
    rng = random.Random(f"nft1000-synth:{seed}:{index}")
    name = f"{NAME_WORDS[index % len(NAME_WORDS)]} {NAME_NOUNS[(index * 7 + seed) % len(NAME_NOUNS)]} {index}"
    style = pick_style(rng, index)
    abstract = index % 5 == 3
    abstract_words = list(ABSTRACT_WORDS)
    rng.shuffle(abstract_words)
    none_weights = {kind: rng.choice((0.0, 0.5, 1.0)) for kind in OPTIONAL_KINDS}
    candidates: dict[str, list[tuple[str, str]]] = {}
    counts: dict[str, int] = {}
    for kind in LAYER_KINDS:
        palette = SKINS if kind == "body" else COLOURS
        candidates[kind] = [(shape, colour) for shape in SHAPES[kind] for colour in palette]
        rng.shuffle(candidates[kind])
        counts[kind] = rng.randint(3, 6) if kind == "background" else rng.randint(3, 5)

    def combinations() -> int:
        total = 1
        for kind, count in counts.items():
            total *= count + (1 if none_weights.get(kind, 0) > 0 else 0)
        return total

    while combinations() < 2 * n_tokens:
        growable = [k for k in LAYER_KINDS if counts[k] < len(candidates[k])]
        counts[min(growable, key=lambda k: counts[k])] += 1
    traits: dict[str, list[TraitValue]] = {}
    for kind in LAYER_KINDS:
        palette = SKINS if kind == "body" else COLOURS
        trait_type = ABSTRACT_TYPES[kind] if abstract else kind.capitalize()
        values = []
        for k, (shape, colour) in enumerate(candidates[kind][: counts[kind]]):
            label = f"{abstract_words[k % len(abstract_words)]} {k + 1}" if abstract else f"{colour} {shape}"
            weight = rng.choice((1.0, 1.0, 2.0, 3.0, 0.5))
            values.append(TraitValue(trait_type, kind, label, shape, palette[colour], weight))
        traits[kind] = values
    numeric = ("Generation", "Luck") if index % 3 == 1 else ()
    big_ids = index % 4 == 2
    return CollectionSpec(
        name=name,
        seed=rng.randrange(2**31),
        style=style,
        traits=traits,
        none_weights=none_weights,
        abstract=abstract,
        numeric_traits=numeric,
        metadata_form=("list", "list", "dict", "traits")[index % 4],
        id_base=2**255 + 12345 if big_ids else rng.choice((0, 1)),
        id_step=7919 if big_ids else 1,
    )


def _weights(count: int, rng: random.Random) -> list[float]:
    """Rarity weights spread log-normally: a few common values, many rare ones, as in real collections."""
    return [rng.lognormvariate(0, 0.6) for _ in range(count)]


def make_real_like_spec(index: int, seed: int, variant: str = "clean") -> CollectionSpec:
    """A real-like collection (module docstring): `VALUE_COUNTS` values per trait type, each with a shape of its
    own and a colour from `synth_real.trait_palette` (near colours included), weights spread log-normally."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    rng = random.Random(f"nft1000-synth-real:{seed}:{index}")
    name = f"Real {NAME_WORDS[index % len(NAME_WORDS)]} {NAME_NOUNS[(index * 7 + seed) % len(NAME_NOUNS)]} {index}"
    style = pick_style(rng, index)
    traits: dict[str, list[TraitValue]] = {}
    for kind in LAYER_KINDS:
        palette = trait_palette(kind, VALUE_COUNTS[kind], rng)

        def render(pattern: int, colour: tuple[int, int, int], kind: str = kind) -> bytes:
            return draw_layer(style, kind, f"{PATTERN}{pattern}", colour).tobytes()

        patterns = pattern_seeds([entry.colour for entry in palette], rng, render)
        traits[kind] = [
            TraitValue(kind.capitalize(), kind, entry.name, f"{PATTERN}{pattern}", entry.colour, weight)
            for entry, pattern, weight in zip(palette, patterns, _weights(len(palette), rng), strict=True)
        ]
    none_weights = {kind: share / (1 - share) * len(traits[kind]) for kind, share in REAL_LIKE_NONE_SHARE.items()}
    return CollectionSpec(
        name=name,
        seed=rng.randrange(2**31),
        style=style,
        traits=traits,
        none_weights=none_weights,
        abstract=False,
        numeric_traits=("Generation",) if index % 3 == 1 else (),
        metadata_form="list",
        id_base=rng.choice((0, 1)),
        id_step=1,
        variant=variant,
        scale=rng.uniform(0.78, 0.93),
    )


def make_non_layered_spec(index: int, seed: int) -> CollectionSpec:
    """A collection whose images are not layers (`synth_real.non_layered_image`) and whose attributes, drawn at
    random, describe nothing visible: what separation must recognise and leave alone."""
    rng = random.Random(f"nft1000-synth-flat:{seed}:{index}")
    traits = {
        kind: [
            TraitValue(kind.capitalize(), kind, f"{kind.capitalize()} {n + 1}", "none", (0, 0, 0), 1.0)
            for n in range(count)
        ]
        for kind, count in NON_LAYERED_TRAITS.items()
    }
    return CollectionSpec(
        name=f"Generative {NAME_NOUNS[index % len(NAME_NOUNS)]} {index}",
        seed=rng.randrange(2**31),
        style=Style("smooth", (512, 512)),
        traits=traits,
        none_weights={},
        abstract=False,
        numeric_traits=(),
        metadata_form="list",
        id_base=0,
        id_step=1,
        layered=NON_LAYERED_KINDS[index % len(NON_LAYERED_KINDS)],
    )


def combination_count(spec: CollectionSpec) -> int:
    total = 1
    for kind, values in spec.traits.items():
        total *= len(values) + (1 if spec.none_weights.get(kind, 0) > 0 else 0)
    return total


def sample_tokens(spec: CollectionSpec, n_tokens: int) -> list[dict[str, TraitValue | None]]:
    """`n_tokens` distinct trait combinations drawn with the rarity weights."""
    if n_tokens > combination_count(spec):
        raise ValueError(f"{spec.name}: {n_tokens} tokens asked, only {combination_count(spec)} combinations")
    rng = random.Random(spec.seed)
    seen: set[tuple[str, ...]] = set()
    tokens = []
    while len(tokens) < n_tokens:
        token: dict[str, TraitValue | None] = {}
        for kind, values in spec.traits.items():
            options: list[TraitValue | None] = list(values)
            weights = [v.weight for v in values]
            if spec.none_weights.get(kind, 0) > 0:
                options.append(None)
                weights.append(spec.none_weights[kind] * sum(weights) / len(weights))
            token[kind] = rng.choices(options, weights)[0]
        key = tuple(v.value if v else NONE_VALUE for v in token.values())
        if key not in seen:
            seen.add(key)
            tokens.append(token)
    return tokens


def token_attributes(spec: CollectionSpec, token: dict[str, TraitValue | None], number: int) -> list[Attribute]:
    attributes = []
    for kind, values in spec.traits.items():
        chosen = token[kind]
        attributes.append(
            Attribute(trait_type=values[0].trait_type, value=chosen.value if chosen else NONE_VALUE, display_type=None)
        )
    rng = random.Random(f"{spec.seed}:{number}")
    for trait in spec.numeric_traits:
        attributes.append(Attribute(trait_type=trait, value=str(rng.randint(1, 99)), display_type="number"))
    return attributes


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


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


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
    from .synth_faults import apply_token_fault

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


def synthesize(
    out: str | Path,
    n_collections: int = 8,
    n_tokens: int = 600,
    seed: int = 0,
    as_zip: bool = False,
    faults: bool = False,
    num_proc: int = 1,
    *,
    style: str = "easy",
    variant: str = "clean",
    non_layered: int = 0,
) -> list[str]:
    """Write `n_collections` synthetic collections of `style` (with `variant` images in the real-like style), then
    `non_layered` collections that are not layered, then with `faults` the fault collections; returns names."""
    from .synth_faults import fault_plan, write_fault_collections

    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if variant != "clean" and style != "real-like":
        raise ValueError("image variants (resampled, jpeg) belong to the real-like style")
    out = Path(out)
    (out / "release").mkdir(parents=True, exist_ok=True)
    if style == "easy":
        specs = [make_spec(i, seed, n_tokens) for i in range(n_collections)]
    else:
        specs = [make_real_like_spec(i, seed, variant) for i in range(n_collections)]
    specs += [make_non_layered_spec(i, seed) for i in range(non_layered)]
    token_faults = fault_plan(n_tokens) if faults else {}
    jobs = [(spec, n_tokens, out, as_zip, token_faults if i == 0 else None) for i, spec in enumerate(specs)]
    if num_proc > 1:
        with ProcessPoolExecutor(num_proc) as pool:
            list(pool.map(write_collection, *zip(*jobs, strict=True)))
    else:
        for job in jobs:
            write_collection(*job)
    names = [spec.name for spec in specs]
    if faults:
        names += write_fault_collections(out, specs[0], token_faults, n_tokens, seed, as_zip)
    return names
