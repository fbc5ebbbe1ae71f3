"""The colour tolerance of a collection, estimated from its own images.

A component is pixel-identical wherever it shows, so what its carriers' pixels differ by, beyond what the layers
explain, is the collection's noise: 0 for lossless art (colours one level apart stay apart), a few levels after
JPEG. For each of a sample of values, each carrier's offset from the carriers' per-pixel consensus (median) is
taken where nearly all of them agree (within `LOOSE`). An offset can come from noise or from another layer in
a colour near the consensus (a family of hats one level apart seen by a background's carriers); the second is
the same over the whole region that layer covers, the first changes from pixel to pixel. So the noise is read
from how much a carrier's offset changes between neighbouring pixels that are both off the consensus: 0 in
lossless art (inside a nearby-coloured layer the offset is constant; only its border changes it), spread out in
JPEG (everywhere) and after resampling (the ringing next to every edge, which depends on what lies across it).
The tolerance is `SCALE` times a high quantile of those changes; 0 where hardly any neighbouring pixels are
both off (`MIN_OFF_SHARE`: the borders of lossless art).
"""

from __future__ import annotations

import numpy as np

LOOSE = 32  # per channel: agreement that any noise of a real release stays within
AGREEING = 0.9  # share of a value's carriers that must agree for a pixel to count
QUANTILE = 0.9  # of the offset changes between neighbours that are both off the consensus
SCALE = 1.5  # a margin for heavy-tailed JPEG noise and for ringing next to stronger edges than most
MIN_OFF_SHARE = 0.005  # of the agreeing neighbour pairs: fewer both off is lossless art (region borders only)
MAX_VALUES = 64  # values sampled
MAX_CARRIERS = 16  # carriers per value sampled


def offset_changes(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`pixels` (carriers x P x 3 uint8, P = rows x cols of `shape`) of one value: for each carrier and each
    pair of neighbouring pixels where the carriers agree, the largest channel change of the carrier's offset from
    the per-pixel median, and whether both pixels are off the median (two flat arrays)."""
    carriers = len(pixels)
    median = np.median(pixels, axis=0).astype(np.int16)
    offset = pixels.astype(np.int16) - median[None]
    agreeing = np.abs(offset).max(axis=-1) <= LOOSE
    consistent = (agreeing.mean(axis=0) >= AGREEING)[None] & agreeing
    off = (offset != 0).any(axis=-1).reshape(carriers, *shape)
    offset = offset.reshape(carriers, *shape, 3)
    consistent = consistent.reshape(carriers, *shape)
    changes, both_off = [], []
    for axis in (1, 2):  # down the rows, along the columns
        ahead = tuple(slice(1, None) if a == axis else slice(None) for a in range(3))
        behind = tuple(slice(None, -1) if a == axis else slice(None) for a in range(3))
        both = consistent[ahead] & consistent[behind]
        changes.append(np.abs(offset[ahead] - offset[behind]).max(axis=-1)[both])
        both_off.append((off[ahead] & off[behind])[both])
    return np.concatenate(changes), np.concatenate(both_off)


def estimate_tolerance(stack: np.ndarray, carriers: list[np.ndarray], seed: int = 0) -> int:
    """The collection's per-channel colour tolerance from `stack` (N x rows x cols x 3) and each value's carriers
    (N bool): `SCALE` times the `QUANTILE` of the offset changes between neighbours both off the consensus
    (module docstring); 0 when they are too few or no value has enough carriers to tell."""
    rng = np.random.default_rng(seed)
    shape = stack.shape[1:3]
    flat = stack.reshape(len(stack), -1, 3)
    usable = [np.flatnonzero(c) for c in carriers if c.sum() >= 4]
    chosen = rng.permutation(len(usable))[:MAX_VALUES]
    measured = [offset_changes(flat[usable[n][:MAX_CARRIERS]], shape) for n in chosen]
    if not measured:
        return 0
    changes, both_off = (np.concatenate(parts) for parts in zip(*measured, strict=True))
    if not len(both_off) or both_off.mean() < MIN_OFF_SHARE:
        return 0
    return int(np.ceil(SCALE * np.quantile(changes[both_off], QUANTILE)))
