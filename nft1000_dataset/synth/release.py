"""``synthesize``: the synthetic release, its collections made in parallel, with the planted-fault collections."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from nft1000_io.atomic import atomic_write_text
from nft1000_io.workers import process_pool

from ..release import SYNTHETIC_MARKER
from .faults import TINY_TOKENS, TOKEN_FAULTS, fault_plan
from .spec import STYLES, CollectionSpec, make_non_layered_spec, make_real_like_spec, make_spec
from .writer import write_collection


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
        with process_pool(num_proc) as pool:
            list(pool.map(write_collection, *zip(*jobs, strict=True)))
    else:
        for job in jobs:
            write_collection(*job)
    names = [spec.name for spec in specs]
    if faults:
        names += write_fault_collections(out, specs[0], token_faults, n_tokens, seed, as_zip)
    origin = {"generator": "nft1000 synth", "seed": seed, "style": style, "variant": variant,
              "collections": n_collections, "tokens": n_tokens, "non_layered": non_layered,
              "faults": faults}  # fmt: skip
    atomic_write_text(out / "release" / SYNTHETIC_MARKER, json.dumps(origin, indent=2))
    return names


def write_fault_collections(
    out: Path, base_spec: CollectionSpec, token_faults: dict[int, str], n_tokens: int, seed: int, as_zip: bool
) -> list[str]:
    """Write the collections the filters must drop and ``faults.json``; returns the new collection names."""
    drops = {
        "Tiny Drop": (TINY_TOKENS, {}, "too few tokens"),
        "Same Cover": (n_tokens, dict.fromkeys(range(n_tokens), "same cover"), "all images identical"),
        "Unrevealed": (n_tokens, dict.fromkeys(range(n_tokens), "no attributes"), "no usable metadata"),
    }
    for name, (count, faults, _) in drops.items():
        spec = dataclasses.replace(base_spec, name=name, id_base=0, id_step=1, seed=base_spec.seed + len(name))
        write_collection(spec, count, out, as_zip, faults)
    manifest = {
        "seed": seed,
        "tokens": [
            {"collection": base_spec.name, "number": number, "fault": fault, "expected": TOKEN_FAULTS[fault]}
            for number, fault in sorted(token_faults.items())
        ],
        "collections": [
            {"collection": name, "tokens": count, "expected_drop": reason} for name, (count, _, reason) in drops.items()
        ],
    }
    atomic_write_text(out / "ground_truth" / "faults.json", json.dumps(manifest, indent=1))
    return list(drops)
