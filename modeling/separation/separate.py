"""Component separation by image differencing (paper, 5.1), made to work on real collections.

Every token of a PFP collection is fixed components composited in layers, so a component is pixel-identical
wherever it shows. Every (trait_type, value) with at least ``min_support`` carriers takes part: the pool of
images holds up to ``positives`` carriers of each (picked to differ in their other traits), however many
values there are, and ``contrast_tokens`` others. Images are brought to a small working grid first
(`modeling.separation.grid`): pixel art to one colour per cell of its own grid, other art to blocks; that keeps memory
and time nearly independent of the image size. The colour tolerance is estimated from the collection
(`modeling.separation.tolerance`): 0 for lossless art, the noise level after resampling or JPEG.

Values are separated at once by peeling the layers (`modeling.separation.peeling`): at each pixel, the values whose
carriers agree on a colour are the top layer there; the tokens that show it are explained, and the next round
finds the layer beneath among the others, so components hidden by hats or glasses in most tokens come out
whole. Contrast with tokens whose value of the same trait type is not a candidate there keeps out what the
carriers share by chance (a background, a skin). Masks found on blocks are refined at full resolution from the
carriers' own pixels (`refine`). A collection whose components explain less than ``min_explained`` of
its images is not layered art (3D renders, photographs, generative art): it gets no components, and the reason.

``method="paper"`` is the literal recipe for comparison: random groups of ``group_size`` positives, a template
differenced against the rest of its group, the fragments of ``rounds`` rounds united, no contrast. Values
meaning "absent" ("None"), numeric ``display_type`` attributes and attributes with no consistent pixels get no
component, with the reason.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

from modeling.separation.component import Component, TraitKey
from modeling.separation.grid import WorkingGrid, block_grid, detect_grid
from modeling.separation.peeling import Peeler, PeelParams, token_bits
from modeling.separation.pixels import matches
from modeling.separation.refine import refine_layers
from modeling.separation.tolerance import estimate_tolerance
from nft1000_dataset.attributes import ALL_TRAITS, Attribute, count_traits, is_absent, is_numeric


@dataclass(frozen=True)
class SeparationParams:
    group_size: int = 4  # paper: 4 images a group
    rounds: int = 8  # paper: 8 rounds
    min_support: int = 4
    positives: int = 32  # carriers of each value in the pool (all where it has fewer): the paper's 4 x 8
    contrast_tokens: int = 256  # tokens every contrast is judged on; the pool holds at least this many
    tolerance: int | None = None  # per channel; None: estimated from the collection (`modeling.separation.tolerance`)
    min_area: int = 16  # full-resolution pixels; fewer means no consistent pixels
    max_working_pixels: int = 8192  # art without a pixel grid is separated on at most this many blocks
    min_explained: float = 0.5  # components explaining less of the images than this: not layered art
    method: str = "peel"  # or "paper"
    seed: int = 0


@dataclass
class SeparationResult:
    collection: str
    components: list[Component] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "trait_type=value" -> reason
    images_used: int = 0
    tokens: int = 0
    seconds: float = 0.0
    tolerance: int = 0  # per channel, what a token's pixel may differ from a component's colour and still show it
    grid: WorkingGrid | None = None  # the working grid separation used (native: pixel art's own)
    explained: float = 0.0  # share of the pool's pixels that the components explain
    not_layered: str = ""  # why the collection got no components at all, if it is not layered art


def _candidates(tokens: Sequence[list[Attribute]], params: SeparationParams, result: SeparationResult):
    support: Counter = Counter()
    counts = count_traits(tokens)
    for attributes in tokens:
        for attribute in attributes:
            key = (attribute["trait_type"], attribute["value"])
            if is_numeric(attribute):
                result.skipped[f"{key[0]}={key[1]}"] = "numeric attribute: describes no pixels"
            elif key[0] in counts:
                counted = "other traits" if counts[key[0]] == ALL_TRAITS else f"'{counts[key[0]]}' traits"
                result.skipped[f"{key[0]}={key[1]}"] = f"counts the token's {counted}: describes no pixels"
            elif is_absent(attribute):
                result.skipped[f"{key[0]}={key[1]}"] = "absent value: nothing to separate"
            else:
                support[key] += 1
    candidates = []
    for key, n in support.items():
        if n < params.min_support:
            result.skipped[f"{key[0]}={key[1]}"] = f"support {n} < {params.min_support}"
        else:
            candidates.append(key)
    return sorted(candidates, key=lambda k: (support[k], k)), support


def _diverse(pool: list[int], keys: list[set[TraitKey]], k: int, rng: random.Random) -> list[int]:
    """Up to k tokens from `pool`, each new one sharing as few other traits as possible with those picked."""
    pool = pool[:]
    rng.shuffle(pool)
    pool = pool[: 4 * k]
    chosen: list[int] = []
    seen: Counter = Counter()
    while pool and len(chosen) < k:
        best = min(pool, key=lambda i: sum(seen[t] for t in keys[i]))
        pool.remove(best)
        chosen.append(best)
        seen.update(keys[best])
    return chosen


def _image_pool(candidates, holders, keys, n_tokens, params, rng) -> list[int]:
    """Token indices whose images are loaded: up to ``positives`` carriers of every candidate (rarest first,
    picked to differ in their other traits; a few for each first, so that no value waits on another), then
    other tokens until the pool holds ``contrast_tokens`` beyond them. Sized by what the values need."""
    pool: set[int] = set()
    for quota in (params.min_support, params.positives):
        for key in candidates:
            have = sum(i in pool for i in holders[key])
            if have < quota:
                rest = [i for i in holders[key] if i not in pool]
                pool.update(_diverse(rest, keys, quota - have, rng))
    others = [i for i in range(n_tokens) if i not in pool]
    rng.shuffle(others)
    pool.update(others[: params.contrast_tokens])
    return sorted(pool)


@dataclass
class Pool:
    """The images held in memory for one collection, on the working grid, with each token's traits."""

    ids: list[int]
    stack: np.ndarray  # N x rows x cols x 3, on `grid`
    keys: list[set[TraitKey]]  # per collection token
    grid: WorkingGrid


GRID_SAMPLE = 16  # images the working grid is detected from


def _load_pool(ids: list[int], keys, load_image, params: SeparationParams) -> Pool | None:
    """The pool's images on the collection's working grid (pixel art's own, or blocks); images of another size
    than most are left out. Each image is decoded once and only its working-grid colours are kept."""
    if not ids:
        return None
    step = max(1, len(ids) // GRID_SAMPLE)
    first = {i: load_image(i) for i in ids[::step][:GRID_SAMPLE]}
    shape = Counter(image.shape for image in first.values()).most_common(1)[0][0]
    same = [image for image in first.values() if image.shape == shape]
    grid = detect_grid(same) or block_grid(shape[:2], params.max_working_pixels)
    kept, cells = [], []
    for i in ids:
        image = first.pop(i) if i in first else load_image(i)
        if image.shape == shape:
            kept.append(i)
            cells.append(grid.sample(image))
    stack = np.stack(cells)
    return Pool(kept, stack, keys, grid)


def _peel(candidates, pool: Pool, support, load_image, params: SeparationParams, result) -> None:
    """Every candidate's component at once by peeling the pool's layers (`modeling.separation.peeling`), brought to full
    resolution (pixel art: cell by cell; blocks: refined from the carriers, `modeling.separation.refine`)."""
    carriers = [np.array([key in pool.keys[i] for i in pool.ids]) for key in candidates]
    trait_of = [key[0] for key in candidates]
    bits = {}
    for trait in set(trait_of):
        number = {key: n for n, key in enumerate(k for k in candidates if k[0] == trait)}
        bits[trait] = token_bits([{number[k] for k in pool.keys[i] if k in number} for i in pool.ids])
    grid = pool.grid
    tolerance = params.tolerance if params.tolerance is not None else estimate_tolerance(pool.stack, carriers)
    blocks = not grid.native and grid.cells != grid.full  # blocks bigger than a pixel: refined afterwards
    peel = PeelParams(
        tolerance=tolerance,
        edges=not grid.native and not blocks,
        min_thickness=1 if grid.native or blocks else 3,
        contrast_tokens=params.contrast_tokens,
        seed=params.seed,
    )
    peeler = Peeler(pool.stack, carriers, trait_of, bits, peel)
    layers = peeler.run(max_rounds=len(bits) + 2)
    result.tolerance, result.grid, result.explained = tolerance, grid, peeler.explained_share()
    if result.explained < params.min_explained:
        result.not_layered = (
            f"its components explain {result.explained:.0%} of its images (< {params.min_explained:.0%}): "
            "not layered art"
        )
        return
    if blocks:
        full = refine_layers(layers, carriers, pool.stack, pool.ids, grid, load_image, tolerance)
    else:
        full = [(grid.upsample(layer.opaque.reshape(grid.cells)), grid.upsample(
            np.where(layer.opaque[:, None], layer.colour, 0).reshape(*grid.cells, 3).astype(np.uint8)),
            float(layer.share[layer.opaque].mean()) if layer.opaque.any() else 0.0) for layer in layers]  # fmt: skip
    for key, has, (mask, rgb, confidence) in zip(candidates, carriers, full, strict=True):
        positives = int(has.sum())
        _add_component(
            result, key, mask, rgb, params, support=support[key], confidence=confidence, positives=positives,
            contrast=len(pool.ids) - positives, grid=grid if grid.native else None,
        )  # fmt: skip


def _add_component(result: SeparationResult, key, mask: np.ndarray, rgb: np.ndarray, params, **fields) -> None:
    """`key`'s component from its full-size mask and colours, or a skip when it has too few pixels."""
    if mask.sum() < params.min_area:
        result.skipped[f"{key[0]}={key[1]}"] = "no consistent pixels (a non-visual attribute?)"
        return
    component = Component.from_arrays(
        mask, rgb, collection=result.collection, trait_type=key[0], value=key[1], method=params.method, **fields
    )
    result.components.append(component)


def separate_collection(
    collection: str,
    tokens: Sequence[list[Attribute]],
    load_image: Callable[[int], np.ndarray],
    params: SeparationParams = SeparationParams(),
) -> SeparationResult:
    """Separate the components of one collection; `load_image(i)` returns token i's image (H x W x 3 uint8)."""
    start = time.perf_counter()
    rng = random.Random(f"{params.seed}:{collection}")
    result = SeparationResult(collection=collection, tokens=len(tokens))
    candidates, support = _candidates(tokens, params, result)
    keys = [{(a["trait_type"], a["value"]) for a in attrs} for attrs in tokens]
    holders = {key: [i for i, k in enumerate(keys) if key in k] for key in candidates}
    ids = _image_pool(candidates, holders, keys, len(tokens), params, rng)
    # one BLAS thread: the products here are many and small; with a thread per core, 13 processes on 16 cores
    # finished no collection in 160 s (the H100 machine), and on 2 cores one thread is 5 % faster as well
    with threadpool_limits(limits=1, user_api="blas"):
        if params.method == "peel":
            pool = _load_pool(ids, keys, load_image, params)
            if pool is not None:
                result.images_used = len(pool.ids)
                _peel(candidates, pool, support, load_image, params, result)
        else:
            _paper_components(candidates, holders, keys, ids, load_image, support, params, rng, result)
    result.seconds = time.perf_counter() - start
    return result


def _paper_method(positives: np.ndarray, params: SeparationParams, rng: random.Random):
    mask = np.zeros(positives.shape[1:3], dtype=bool)
    colour = np.zeros(positives.shape[1:], dtype=np.uint8)
    rounds_hit = np.zeros(mask.shape, dtype=np.int32)
    for _ in range(params.rounds):
        group = rng.sample(range(len(positives)), min(params.group_size, len(positives)))
        template = positives[group[0]]
        fragment = np.ones(mask.shape, dtype=bool)
        for other in group[1:]:
            fragment &= matches(positives[other], template, params.tolerance)
        new = fragment & ~mask
        colour[new] = template[new]
        mask |= fragment
        rounds_hit += fragment
    confidence = float(rounds_hit[mask].mean() / params.rounds) if mask.any() else 0.0
    return mask, colour, confidence


def _paper_components(candidates, holders, keys, ids, load_image, support, params, rng, result) -> None:
    """The literal recipe for each candidate, from up to ``group_size x rounds`` diverse positives of the pool
    at full resolution, with the estimated tolerance unless one is given."""
    wanted = params.group_size * params.rounds
    pooled = set(ids)
    tolerance = params.tolerance if params.tolerance is not None else 24
    result.tolerance, result.images_used = tolerance, len(ids)
    for key in candidates:
        name = f"{key[0]}={key[1]}"
        positive_ids = _diverse([i for i in holders[key] if i in pooled], keys, wanted, rng)
        images = [load_image(i) for i in positive_ids]
        shape = Counter(image.shape for image in images).most_common(1)[0][0] if images else None
        images = [image for image in images if image.shape == shape]
        if len(images) < min(params.min_support, params.group_size):
            result.skipped[name] = f"only {len(images)} usable images"
            continue
        mask, colour, confidence = _paper_method(np.stack(images), replace(params, tolerance=tolerance), rng)
        _add_component(
            result, key, mask, colour, params, support=support[key], confidence=confidence,
            positives=len(images), contrast=0,
        )  # fmt: skip
