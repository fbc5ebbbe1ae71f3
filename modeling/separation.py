"""Component separation by image differencing (paper, 5.1), made robust for real collections.

Every token of a PFP collection is fixed components composited in layers, so a component is pixel-identical
wherever it shows. A pool of up to ``max_images`` tokens is loaded per collection (positives for every value,
rarest first, picked to differ in their other traits; then others), and every (trait_type, value) with enough
support is separated at once by peeling the layers (`modeling.peeling`): at each pixel, the values whose
carriers agree on a colour are the top layer there; the tokens that show it are explained, and the next round
finds the layer beneath among the others, so components hidden by hats or glasses in most tokens come out
whole. Contrast with the tokens whose value of the same trait type is not a candidate there keeps out what
the carriers share by chance (a background, a skin); anti-aliased edges, which mix two layers, count for no
one, and each mask then gets the ring of edge pixels that its layer covers at least half of.

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
from PIL import Image
from threadpoolctl import threadpool_limits

from nft1000_dataset.attributes import ALL_TRAITS, Attribute, count_traits, is_absent, is_numeric

from .peeling import Peeler, PeelParams, token_bits
from .pixels import bounding_box, matches, shown_pixels

TraitKey = tuple[str, str]  # (trait_type, value)


@dataclass(frozen=True)
class SeparationParams:
    group_size: int = 4  # paper: 4 images a group (also how many positives the pool holds per value: x rounds)
    rounds: int = 8  # paper: 8 rounds
    min_support: int = 4
    tolerance: int = 24  # per channel: absorbs the resampling noise of the 512-px standardisation
    min_area: int = 16  # pixels; fewer means no consistent pixels
    max_images: int = 256  # images held in memory per collection
    method: str = "peel"  # or "paper"
    seed: int = 0


@dataclass
class Component:
    """One separated component: where it is (mask) and what it looks like (rgb), at the dataset resolution."""

    collection: str
    trait_type: str
    value: str
    mask: np.ndarray  # bool, H x W
    rgb: np.ndarray  # uint8, H x W x 3 (zero outside the mask)
    support: int
    confidence: float
    method: str
    positives: int
    contrast: int

    @property
    def key(self) -> TraitKey:
        return (self.trait_type, self.value)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return bounding_box(self.mask)

    def resized(self, shape: tuple[int, int]) -> Component:
        """The same component at another resolution (NEAREST), e.g. the collator's working size."""
        if shape == self.mask.shape:
            return self
        size = (shape[1], shape[0])
        mask = np.asarray(Image.fromarray(self.mask).resize(size, Image.Resampling.NEAREST))
        rgb = np.asarray(Image.fromarray(self.rgb).resize(size, Image.Resampling.NEAREST))
        return replace(self, mask=mask, rgb=rgb)

    def token_mask(self, image: np.ndarray, tolerance: int) -> np.ndarray:
        """Where this component shows in one token: its mask where the token has the component's colours, with
        the blended edge next to them (`pixels.shown_pixels`)."""
        return shown_pixels(image, self.mask, self.rgb, tolerance)


@dataclass
class SeparationResult:
    collection: str
    components: list[Component] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "trait_type=value" -> reason
    images_used: int = 0
    tokens: int = 0
    seconds: float = 0.0


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
    """Token indices whose images are loaded: positives for every candidate, rarest first, first a few for each
    (so that a collection with many values still holds every one), then up to ``group_size x rounds``; then
    others."""
    wanted = params.group_size * params.rounds
    pool: set[int] = set()
    for quota in (params.min_support, 2 * params.min_support, wanted):
        for key in candidates:
            have = sum(i in pool for i in holders[key])
            if have < quota and len(pool) < params.max_images:
                rest = [i for i in holders[key] if i not in pool]
                room = min(quota - have, params.max_images - len(pool))
                pool.update(_diverse(rest, keys, room, rng))
    others = [i for i in range(n_tokens) if i not in pool]
    rng.shuffle(others)
    pool.update(others[: max(0, params.max_images - len(pool))])
    return sorted(pool)


@dataclass
class Pool:
    """The images held in memory for one collection, with each token's traits."""

    ids: list[int]
    stack: np.ndarray  # N x H x W x 3
    keys: list[set[TraitKey]]  # per collection token


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


def _peel_components(collection, candidates, pool: Pool, support, params: SeparationParams) -> list[Component]:
    """Every candidate's component at once by peeling the pool's layers (`modeling.peeling`)."""
    carriers = [np.array([key in pool.keys[i] for i in pool.ids]) for key in candidates]
    trait_of = [key[0] for key in candidates]
    bits = {}
    for trait in set(trait_of):
        number = {key: n for n, key in enumerate(k for k in candidates if k[0] == trait)}
        bits[trait] = token_bits([{number[k] for k in pool.keys[i] if k in number} for i in pool.ids])
    peel = PeelParams(tolerance=params.tolerance)
    layers = Peeler(pool.stack, carriers, trait_of, bits, peel).run(max_rounds=len(bits) + 2)
    shape = pool.stack.shape[1:3]
    components = []
    for key, has, layer in zip(candidates, carriers, layers, strict=True):
        mask = layer.opaque.reshape(shape)
        rgb = np.where(layer.opaque[:, None], layer.colour, 0).reshape(*shape, 3).astype(np.uint8)
        confidence = float(layer.share[layer.opaque].mean()) if layer.opaque.any() else 0.0
        positives = int(has.sum())
        components.append(
            Component(
                collection=collection,
                trait_type=key[0],
                value=key[1],
                mask=mask,
                rgb=rgb,
                support=support[key],
                confidence=confidence,
                method=params.method,
                positives=positives,
                contrast=len(pool.ids) - positives,
            )
        )
    return components


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
    images = {i: load_image(i) for i in _image_pool(candidates, holders, keys, len(tokens), params, rng)}
    shape = Counter(image.shape for image in images.values()).most_common(1)[0][0] if images else None
    images = {i: image for i, image in images.items() if image.shape == shape}
    result.images_used = len(images)
    # one BLAS thread: the products here are many and small; with a thread per core, 13 processes on 16 cores
    # finished no collection in 160 s (the H100 machine), and on 2 cores one thread is 5 % faster as well
    with threadpool_limits(limits=1, user_api="blas"):
        if params.method == "peel":
            _peeled_components(collection, candidates, holders, keys, images, support, params, result)
        else:
            _paper_components(collection, candidates, holders, keys, images, support, params, rng, result)
    result.seconds = time.perf_counter() - start
    return result


def _peeled_components(collection, candidates, holders, keys, images, support, params, result) -> None:
    """Every candidate at once by peeling; `images` is emptied into one stack, so the pool is held once."""
    if not images:
        return
    ids = sorted(images)
    stack = np.empty((len(ids), *images[ids[0]].shape), dtype=np.uint8)
    for n, i in enumerate(ids):
        stack[n] = images.pop(i)
    for component in _peel_components(collection, candidates, Pool(ids, stack, keys), support, params):
        name = f"{component.trait_type}={component.value}"
        if component.positives < params.min_support and component.positives < len(holders[component.key]):
            result.skipped[name] = f"only {component.positives} usable images"
        elif component.mask.sum() < params.min_area:
            result.skipped[name] = "no consistent pixels (a non-visual attribute?)"
        else:
            result.components.append(component)


def _paper_components(collection, candidates, holders, keys, images, support, params, rng, result) -> None:
    """The literal recipe for each candidate, from up to ``group_size x rounds`` diverse positives."""
    wanted = params.group_size * params.rounds
    for key in candidates:
        name = f"{key[0]}={key[1]}"
        positive_ids = _diverse([i for i in holders[key] if i in images], keys, wanted, rng)
        if len(positive_ids) < min(params.min_support, params.group_size):
            result.skipped[name] = f"only {len(positive_ids)} usable images"
            continue
        mask, colour, confidence = _paper_method(np.stack([images[i] for i in positive_ids]), params, rng)
        if mask.sum() < params.min_area:
            result.skipped[name] = "no consistent pixels (a non-visual attribute?)"
            continue
        result.components.append(
            Component(
                collection=collection,
                trait_type=key[0],
                value=key[1],
                mask=mask,
                rgb=np.where(mask[..., None], colour, 0).astype(np.uint8),
                support=support[key],
                confidence=confidence,
                method=params.method,
                positives=len(positive_ids),
                contrast=0,
            )
        )
