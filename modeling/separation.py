"""Component separation by image differencing (paper, 5.1), made robust for real collections.

Every token of a PFP collection is fixed components composited in layers, so a component is pixel-identical
wherever it shows. For each (trait_type, value) with enough support:

1. Positives: tokens that carry it, picked in ``rounds`` groups of ``group_size`` that differ from each other in
   their other traits, so that no other trait is shared by the whole sample.
2. Differencing: the candidate colour at each pixel is the modal colour over the positives, and a positive
   agrees where it is within ``tolerance`` of it (the tolerance absorbs the resampling noise of the 512-px
   standardisation). Occlusion by higher layers only lowers the agreement, so the fragments of several groups
   superpose into the whole component; pixels where fewer than ``min_positive_rate`` of the positives agree
   are dropped. Where an occluder hides the component in most positives its colour wins the mode; an optional
   second pass (``colour_passes=2``) takes the modal colour among the positives that did not show the first.
3. Contrast: over a pool of tokens with and without the value, a pixel is kept only if the trait type of the
   value explains whether a token shows that colour there better than any other trait type does (variance of
   the agreement explained by each trait type's values, adjusted for their number). A pixel that tokens
   lacking the value show too is thereby explained by something else: a background the positives happen to
   share, the skin between the eyes that other eye values cover. Parts common to several or all values of
   the same trait type (the neck of every body, the frame of every pair of glasses) are explained by that
   trait type and belong to each value that shows them. In the second pass, tokens that show the first
   pass's colour at a pixel do not count in its statistics: what hides them there is already explained.

``method="paper"`` is the literal recipe for comparison: random groups, a template differenced against the
rest of its group, the fragments of all rounds united, no contrast. Values meaning "absent" ("None"),
numeric ``display_type`` attributes and attributes with no consistent pixels get no component, with the reason.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from nft1000_dataset.attributes import Attribute, is_absent, is_numeric

from .pixels import agreement, bounding_box, matches, modal_colour

TraitKey = tuple[str, str]  # (trait_type, value)
ABSENT = ""  # the group of tokens that lack a trait type (or carry it as "None")
MIN_CONTRAST = 8  # tokens lacking a trait type needed to use them as the contrast
PIXEL_CHUNK = 16384  # candidate pixels tested at a time: bounds memory to pool size x chunk


@dataclass(frozen=True)
class SeparationParams:
    group_size: int = 4  # paper: 4 images a group
    rounds: int = 8  # paper: 8 rounds
    min_support: int = 4
    tolerance: int = 24
    min_positive_rate: float = 0.08
    min_explained: float = 0.2  # adjusted share of the agreement's variance the trait type must explain
    prefilter_tokens: int = 32  # tokens lacking the value used to rule out most pixels cheaply
    prefilter_gap: float = 0.05
    rival_ratio: float = 0.5  # ... and at least this fraction of what the best other producing type explains
    min_area: int = 16  # pixels; fewer means no consistent pixels
    max_images: int = 256  # images held in memory per collection
    colour_passes: int = 1  # modal colours tried per pixel (2 recovers components hidden in most tokens)
    method: str = "contrast"  # or "paper"
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
        """Where this component shows in one token: its mask where the token has the component's colours."""
        return self.mask & matches(image, self.rgb, tolerance)


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
    for attributes in tokens:
        for attribute in attributes:
            key = (attribute["trait_type"], attribute["value"])
            if is_numeric(attribute):
                result.skipped[f"{key[0]}={key[1]}"] = "numeric attribute: describes no pixels"
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
    """Token indices whose images are loaded: positives for every candidate, rarest first, then contrast."""
    wanted = params.group_size * params.rounds
    pool: set[int] = set()
    for key in candidates:
        have = [i for i in holders[key] if i in pool]
        if len(have) < wanted and len(pool) < params.max_images:
            rest = [i for i in holders[key] if i not in pool]
            room = min(wanted - len(have), params.max_images - len(pool))
            pool.update(_diverse(rest, keys, room, rng))
    others = [i for i in range(n_tokens) if i not in pool]
    rng.shuffle(others)
    pool.update(others[: max(0, params.max_images - len(pool))])
    return sorted(pool)


@dataclass
class Grouping:
    """The pool's tokens grouped by one trait type's value(s), as a one-hot matrix (G x N)."""

    groups: np.ndarray
    onehot: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray) -> Grouping:
        groups, inverse = np.unique(labels, return_inverse=True)
        onehot = np.zeros((len(groups), len(labels)), dtype=np.float32)
        onehot[inverse, np.arange(len(labels))] = 1.0
        return cls(groups, onehot)

    def split(self, has_value: np.ndarray, lacking: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One-hot matrices of the groups' tokens with a value and of those in `lacking`, for groups with at
        least two of each."""
        with_counts = self.onehot[:, has_value].sum(axis=1)
        without_counts = self.onehot[:, lacking].sum(axis=1)
        usable = (with_counts >= 2) & (without_counts >= 2)
        return self.onehot[usable][:, has_value], self.onehot[usable][:, lacking]


def _weighted_means(onehot: np.ndarray, agree: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each group's mean of `agree` over the tokens that count at each pixel (weight 1), and their number."""
    counts = onehot @ weight
    means = (onehot @ (agree * weight)) / np.maximum(counts, 1)
    return means, counts


def _group_stats(agree: np.ndarray, weight: np.ndarray, grouping: Grouping) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of `agree` (N x P, 0/1), over the tokens that count there (`weight`, N x P, 0/1): the adjusted
    share of its variance explained by the grouping (like an adjusted R squared, so that trait types with many
    values gain nothing) and each group's mean (G x P)."""
    means, counts = _weighted_means(grouping.onehot, agree, weight)
    n = weight.sum(axis=0)
    k = (counts > 0).sum(axis=0)
    overall = (agree * weight).sum(axis=0) / np.maximum(n, 1)
    within = (counts * means * (1 - means)).sum(axis=0) / np.maximum(n - k, 1)
    total = overall * (1 - overall) * n / np.maximum(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where((total > 0) & (k >= 2) & (n > k), 1 - within / total, 0.0)
    return share.astype(np.float32), means


def _shows_without(means: np.ndarray, groups: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per pixel: do tokens lacking the trait type show the colour about as often as `reference`?"""
    absent = np.flatnonzero(groups == ABSENT)
    if len(absent) == 0:
        return np.zeros(means.shape[1], dtype=bool)
    return means[absent[0]] >= 0.5 * reference


def _shows_without_value(agree, weight, has_value, lacking, split, ratio: float) -> np.ndarray:
    """Per pixel: among tokens with the other trait type's value under which ours shows the colour most,
    do tokens lacking ours show it at least `ratio` as often? Then that value, not ours, explains the colour
    (a background that every token with a rare hat happens to share)."""
    with_onehot, without_onehot = split
    if len(with_onehot) == 0:
        return np.zeros(agree.shape[1], dtype=bool)
    with_means, _ = _weighted_means(with_onehot, agree[has_value], weight[has_value])
    without_means, _ = _weighted_means(without_onehot, agree[lacking], weight[lacking])
    best = with_means.argmax(axis=0)
    columns = np.arange(agree.shape[1])
    return without_means[best, columns] >= ratio * with_means[best, columns]


def _owned_by(
    key: TraitKey,
    colour: np.ndarray,
    candidate: np.ndarray,
    pool: Pool,
    params: SeparationParams,
    earlier: Sequence[np.ndarray] = (),
):
    """Which candidate pixels the value's trait type produces (see the module docstring, step 3). Tokens that
    show one of the `earlier` passes' colours at a pixel do not count there: what covers them is explained."""
    has_value = np.array([key in pool.keys[i] for i in pool.ids])
    own_grouping = pool.groupings[key[0]]
    if pool.repeated[key[0]]:  # a trait type a token can carry several times: the value alone is the factor
        own_grouping = Grouping.of(np.where(has_value, "1", ABSENT))
    # tokens lacking the whole trait type are the cleanest contrast; else those lacking the value, which
    # may share parts of it (other values of the type), so they must show the colour more often to count
    absent = own_grouping.onehot[own_grouping.groups == ABSENT].sum(axis=0) > 0
    lacking, ratio = (absent, 0.5) if absent.sum() >= MIN_CONTRAST else (~has_value, 0.75)
    others = [(g, g.split(has_value, lacking)) for t, g in pool.groupings.items() if t != key[0]]
    ys, xs = np.nonzero(candidate)
    owned = np.zeros_like(candidate)
    for start in range(0, len(ys), PIXEL_CHUNK):
        y, x = ys[start : start + PIXEL_CHUNK], xs[start : start + PIXEL_CHUNK]
        pixels = pool.stack[:, y, x]
        agree = matches(pixels, colour[y, x], params.tolerance).astype(np.float32)
        weight = np.ones_like(agree)
        for previous in earlier:
            weight[matches(pixels, previous[y, x], params.tolerance)] = 0.0
        with_value, _ = _weighted_means(has_value[None].astype(np.float32), agree, weight)
        without, _ = _weighted_means((~has_value)[None].astype(np.float32), agree, weight)
        associated = with_value[0] > without[0]  # the cheap test first: only these pixels get the statistics
        y, x, agree, weight = y[associated], x[associated], agree[:, associated], weight[:, associated]
        with_value = with_value[0, associated]
        if not len(y):
            continue
        own, means = _group_stats(agree, weight, own_grouping)
        best_other = np.zeros_like(own)
        explained_elsewhere = np.zeros(own.shape, dtype=bool)
        for grouping, split in others:
            share, other_means = _group_stats(agree, weight, grouping)
            producer = ~_shows_without(other_means, grouping.groups, other_means.max(axis=0))
            best_other = np.maximum(best_other, np.where(producer, share, 0.0))
            explained_elsewhere |= _shows_without_value(agree, weight, has_value, lacking, split, ratio)
        keep = (
            (own >= params.min_explained)
            & (own >= params.rival_ratio * best_other)
            & ~_shows_without(means, own_grouping.groups, with_value)
            & ~explained_elsewhere
        )
        if earlier:  # enough contrast must be left where the earlier colours hide some tokens
            keep &= weight[lacking].sum(axis=0) >= MIN_CONTRAST
        owned[y[keep], x[keep]] = True
    return owned


@dataclass
class Pool:
    """The images held in memory for one collection, with each token's traits."""

    ids: list[int]
    stack: np.ndarray  # N x H x W x 3
    keys: list[set[TraitKey]]  # per collection token
    groupings: dict[str, Grouping]  # trait type -> pool tokens grouped by value(s), ABSENT when it has none
    repeated: dict[str, bool]  # trait type -> some token carries it several times


def _make_pool(ids: list[int], images: dict[int, np.ndarray], tokens, keys) -> Pool:
    values: dict[str, list[list[str]]] = {}
    for n, i in enumerate(ids):
        for a in tokens[i]:
            if not is_numeric(a) and not is_absent(a):
                values.setdefault(a["trait_type"], [[] for _ in ids])[n].append(a["value"])
    groupings = {t: Grouping.of(np.array(["\x1f".join(sorted(v)) or ABSENT for v in per])) for t, per in values.items()}
    repeated = {t: any(len(v) > 1 for v in per) for t, per in values.items()}
    return Pool(ids, np.stack([images[i] for i in ids]), keys, groupings, repeated)


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


def _contrast_method(key: TraitKey, positives: np.ndarray, negatives: np.ndarray, pool: Pool, params: SeparationParams):
    """Steps 2 and 3 of the module docstring, in `colour_passes` passes: each pass takes the modal colour
    among the positives that matched none of the earlier passes' colours there, so a component that an
    occluder hides in most of its tokens (eyes behind glasses of one frame colour) is still found where the
    occluder's colour, owned by another trait type, won the first pass."""
    shape = positives.shape[1:3]
    mask, colour = np.zeros(shape, dtype=bool), np.zeros((*shape, 3), dtype=np.uint8)
    agree_owned = np.zeros(shape, dtype=np.float32)
    excluded = np.zeros(positives.shape[:3], dtype=bool)
    earlier: list[np.ndarray] = []
    for _ in range(params.colour_passes):
        candidate_colour = modal_colour(positives, exclude=excluded)
        agree_pos = agreement(positives, candidate_colour, params.tolerance)
        agree_neg = agreement(negatives, candidate_colour, params.tolerance)
        candidate = (
            ~mask
            & (agree_pos >= params.min_positive_rate)
            & (agree_pos * len(positives) >= 2)
            & (agree_pos - agree_neg >= params.prefilter_gap)  # cheap, before the per-type statistics
        )
        owned = _owned_by(key, candidate_colour, candidate, pool, params, earlier)
        earlier.append(candidate_colour)
        mask |= owned
        colour[owned] = candidate_colour[owned]
        agree_owned[owned] = agree_pos[owned]
        excluded |= matches(positives, candidate_colour, params.tolerance)
    confidence = float(agree_owned[mask].mean()) if mask.any() else 0.0
    return mask, colour, confidence


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
    wanted = params.group_size * params.rounds
    pool = _make_pool(sorted(images), images, tokens, keys) if images else None
    for key in candidates:
        name = f"{key[0]}={key[1]}"
        positive_ids = _diverse([i for i in holders[key] if i in images], keys, wanted, rng)
        if len(positive_ids) < min(params.min_support, params.group_size):
            result.skipped[name] = f"only {len(positive_ids)} usable images"
            continue
        positives = np.stack([images[i] for i in positive_ids])
        if params.method == "paper":
            mask, colour, confidence = _paper_method(positives, params, rng)
        else:
            lacking = [i for i in pool.ids if key not in keys[i]]
            sample = rng.sample(lacking, min(len(lacking), params.prefilter_tokens))
            negatives = np.stack([images[i] for i in sample]) if sample else positives[:0]
            mask, colour, confidence = _contrast_method(key, positives, negatives, pool, params)
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
                contrast=len(images) - len(positive_ids) if params.method != "paper" else 0,
            )
        )
    result.seconds = time.perf_counter() - start
    return result
