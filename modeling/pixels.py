"""Per-pixel statistics over stacks of images of one collection (uint8, N x H x W x 3), vectorised in numpy."""

from __future__ import annotations

import numpy as np


def colour_codes(images: np.ndarray) -> np.ndarray:
    """One int32 per pixel: 0xRRGGBB, shape N x H x W."""
    images = images.astype(np.int32, copy=False)
    return (images[..., 0] << 16) | (images[..., 1] << 8) | images[..., 2]


def modal_colour(images: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """The most frequent exact colour at each pixel across the stack (ties: the smallest code); H x W x 3.

    `exclude` (N x H x W bool) leaves those entries out of the count (black where every entry is excluded)."""
    codes = colour_codes(images)
    if exclude is not None:
        codes = np.where(exclude, -1, codes)
    codes = np.sort(codes.reshape(len(images), -1), axis=0)
    best_code = np.maximum(codes[0], 0)
    best_run = (codes[0] >= 0).astype(np.int32)
    run = np.ones(codes.shape[1], dtype=np.int32)
    for k in range(1, len(codes)):
        run = np.where(codes[k] == codes[k - 1], run + 1, 1)
        better = (run > best_run) & (codes[k] >= 0)
        best_run = np.where(better, run, best_run)
        best_code = np.where(better, codes[k], best_code)
    height, width = images.shape[1:3]
    rgb = np.stack([(best_code >> 16) & 255, (best_code >> 8) & 255, best_code & 255], axis=-1)
    return rgb.reshape(height, width, 3).astype(np.uint8)


def matches(images: np.ndarray, colour: np.ndarray, tolerance: int) -> np.ndarray:
    """Boolean N x H x W (or H x W for one image): every channel within `tolerance` of `colour`.

    Works on uint8 with per-channel bounds, without widening the (large) image stack."""
    low = np.clip(colour.astype(np.int16) - tolerance, 0, 255).astype(np.uint8)
    high = np.clip(colour.astype(np.int16) + tolerance, 0, 255).astype(np.uint8)
    result = (images[..., 0] >= low[..., 0]) & (images[..., 0] <= high[..., 0])
    for channel in (1, 2):
        result &= (images[..., channel] >= low[..., channel]) & (images[..., channel] <= high[..., channel])
    return result


def agreement(images: np.ndarray, colour: np.ndarray, tolerance: int) -> np.ndarray:
    """Fraction of the stack whose pixel matches `colour` there (H x W float32); 0 for an empty stack."""
    if len(images) == 0:
        return np.zeros(colour.shape[:2], dtype=np.float32)
    counts = np.zeros(colour.shape[:2], dtype=np.int32)
    for image in images:  # one image at a time keeps the int16 temporaries small
        counts += matches(image, colour, tolerance)
    return counts.astype(np.float32) / len(images)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), exclusive ends, of the True pixels; (0, 0, 0, 0) for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return (0, 0, 0, 0)
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
