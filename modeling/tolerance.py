"""The colour tolerance of a collection, estimated from its own images.

A component is pixel-identical wherever it shows, so what its carriers' pixels differ by, beyond what the layers
explain, is the collection's noise: 0 for lossless art (colours one level apart stay apart), a few levels after
JPEG. For each of a sample of values, each carrier's offset from the carriers' per-pixel consensus (median) is
taken where nearly all of them agree (within `LOOSE`). An offset can come from noise or from another layer in
a colour near the consensus (a family of hats one level apart seen by a background's carriers); the second is
the same over the whole region that layer covers, the first changes from pixel to pixel. So the noise is read
from how much a carrier's offset changes between neighbouring pixels: exactly 0 in lossless art except along
region borders, spread out in JPEG. The tolerance is `SCALE` times a high quantile of those changes.
"""

from __future__ import annotations

import numpy as np

LOOSE = 32  # per channel: agreement that any noise of a real release stays within
AGREEING = 0.9  # share of a value's carriers that must agree for a pixel to count
QUANTILE = 0.9  # of the offset changes between neighbours: region borders in lossless art stay above it
SCALE = 1.5  # that quantile is about 3 noise standard deviations already; a margin for heavy-tailed JPEG noise
MAX_VALUES = 64  # values sampled
MAX_CARRIERS = 16  # carriers per value sampled


def offset_changes(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`pixels` (carriers x P x 3 uint8, P = rows x cols of `shape`) of one value: for each carrier and each
    pair of neighbouring pixels where the carriers agree, the largest channel change of the carrier's offset from
    the per-pixel median (flattened)."""
    carriers = len(pixels)
    median = np.median(pixels, axis=0).astype(np.int16)
    offset = pixels.astype(np.int16) - median[None]
    agreeing = np.abs(offset).max(axis=-1) <= LOOSE
    consistent = (agreeing.mean(axis=0) >= AGREEING)[None] & agreeing
    offset = offset.reshape(carriers, *shape, 3)
    consistent = consistent.reshape(carriers, *shape)
    changes = []
    for axis in (1, 2):  # down the rows, along the columns
        ahead = tuple(slice(1, None) if a == axis else slice(None) for a in range(3))
        behind = tuple(slice(None, -1) if a == axis else slice(None) for a in range(3))
        both = consistent[ahead] & consistent[behind]
        changes.append(np.abs(offset[ahead] - offset[behind]).max(axis=-1)[both])
    return np.concatenate(changes)


def estimate_tolerance(stack: np.ndarray, carriers: list[np.ndarray], seed: int = 0) -> int:
    """The collection's per-channel colour tolerance from `stack` (N x rows x cols x 3) and each value's carriers
    (N bool): `SCALE` times the `QUANTILE` of the offset changes (module docstring); 0 when no value has enough
    carriers to tell."""
    rng = np.random.default_rng(seed)
    shape = stack.shape[1:3]
    flat = stack.reshape(len(stack), -1, 3)
    usable = [np.flatnonzero(c) for c in carriers if c.sum() >= 4]
    chosen = rng.permutation(len(usable))[:MAX_VALUES]
    changes = [offset_changes(flat[usable[n][:MAX_CARRIERS]], shape) for n in chosen]
    pooled = np.concatenate(changes) if changes else np.zeros(0)
    return int(np.ceil(SCALE * np.quantile(pooled, QUANTILE))) if len(pooled) else 0
