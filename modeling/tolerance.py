"""The colour tolerance of a collection, estimated from its own images.

A component is pixel-identical wherever it shows, so what its carriers' pixels differ by where they agree is
the collection's noise: 0 for lossless art (colours one level apart stay apart), a few levels after JPEG. For
each of a sample of values, the pixels where nearly all of its carriers agree (within `LOOSE`) are found, and
at each the typical (median) distance of the carriers from their median colour is taken. Noise moves every
carrier a little; a near colour of another layer moves a few carriers a lot and leaves the median at 0. Where
carriers show a family of near colours of another layer (hats one level apart), the typical distance is not 0
either, but such regions are the minority: a value's own pixels differ by noise alone, and they are its
quietest. So each value's noise is a low quantile of its typical distances, the collection's the median over
values, and the tolerance `SCALE` times that: 0 for lossless art.
"""

from __future__ import annotations

import numpy as np

LOOSE = 32  # per channel: agreement that any noise of a real release stays within
AGREEING = 0.9  # share of a value's carriers that must agree for a pixel to count
QUIETEST = 0.25  # quantile of a value's typical distances taken as its noise
SCALE = 2.5  # typical distance (~1.27 sigma of Gaussian noise, largest of 3 channels) -> ~3.2 sigma
MAX_VALUES = 64  # values sampled
MAX_CARRIERS = 16  # carriers per value sampled


def typical_deviations(pixels: np.ndarray) -> np.ndarray:
    """`pixels` (carriers x P x 3 uint8) of one value: at each pixel where `AGREEING` of the carriers lie within
    `LOOSE` of the median colour, the median over them of their largest channel distance from it."""
    median = np.median(pixels, axis=0).astype(np.int16)
    deviation = np.abs(pixels.astype(np.int16) - median[None]).max(axis=-1).astype(np.float32)
    agreeing = deviation <= LOOSE
    consistent = agreeing.mean(axis=0) >= AGREEING
    kept = np.where(agreeing[:, consistent], deviation[:, consistent], np.nan)
    return np.nanmedian(kept, axis=0) if kept.size else np.zeros(0, dtype=np.float32)


def estimate_tolerance(stack: np.ndarray, carriers: list[np.ndarray], seed: int = 0) -> int:
    """The collection's per-channel colour tolerance from `stack` (N x H x W x 3) and each value's carriers
    (N bool): `SCALE` times the median over values of their noise (module docstring); 0 when no value has
    enough carriers to tell."""
    rng = np.random.default_rng(seed)
    flat = stack.reshape(len(stack), -1, 3)
    usable = [np.flatnonzero(c) for c in carriers if c.sum() >= 4]
    chosen = rng.permutation(len(usable))[:MAX_VALUES]
    noise = []
    for n in chosen:
        typical = typical_deviations(flat[usable[n][:MAX_CARRIERS]])
        if len(typical):
            noise.append(np.quantile(typical, QUIETEST))
    return int(np.ceil(SCALE * np.median(noise))) if noise else 0
