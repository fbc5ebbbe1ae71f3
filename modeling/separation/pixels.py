"""Per-pixel statistics over stacks of images of one collection (uint8, N x H x W x 3), vectorised in numpy."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def matches(images: np.ndarray, colour: np.ndarray, tolerance: int) -> np.ndarray:
    """Boolean N x H x W (or H x W for one image): every channel within `tolerance` of `colour`.

    Works on uint8 without widening the (large) image stack: ``image - low`` wraps around below `low`, so one
    subtraction and one comparison per channel test both bounds."""
    if images.dtype != np.uint8:
        raise TypeError(f"matches works on uint8 images, got {images.dtype}")
    low = np.clip(colour.astype(np.int16) - tolerance, 0, 255)
    span = (np.clip(colour.astype(np.int16) + tolerance, 0, 255) - low).astype(np.uint8)
    low = low.astype(np.uint8)
    result = (images[..., 0] - low[..., 0]) <= span[..., 0]
    for channel in (1, 2):
        result &= (images[..., channel] - low[..., channel]) <= span[..., channel]
    return result


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), exclusive ends, of the True pixels; (0, 0, 0, 0) for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return (0, 0, 0, 0)
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


DIRECTIONS = ((0, 1), (1, 0), (0, -1), (-1, 0))  # (dy, dx): the four neighbours


def shifted(array: np.ndarray, dy: int, dx: int, fill=0) -> np.ndarray:
    """`array` (H x W x ...) moved so that out[y, x] = array[y + dy, x + dx]; `fill` where that is outside."""
    out = np.full_like(array, fill)
    height, width = array.shape[:2]
    src_y = slice(max(dy, 0), height + min(dy, 0))
    src_x = slice(max(dx, 0), width + min(dx, 0))
    dst_y = slice(max(-dy, 0), height + min(-dy, 0))
    dst_x = slice(max(-dx, 0), width + min(-dx, 0))
    out[dst_y, dst_x] = array[src_y, src_x]
    return out


def colour_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of absolute channel differences (int16: at most 765), over the last axis."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(axis=-1, dtype=np.int16)


def blends(image: np.ndarray, tolerance: int) -> np.ndarray:
    """H x W bool: pixels whose colour is a mix of two different neighbours on either side (1 or 2 pixels
    away, along a row or a column), matching neither: the anti-aliased edge between two layers, which no
    single component explains."""
    height, width = image.shape[:2]
    found = np.zeros((height, width), dtype=bool)
    colour = image.astype(np.int16)
    differs = np.zeros((height, width), dtype=bool)  # only pixels unlike a neighbour can be blends
    for dy, dx in DIRECTIONS:
        differs |= np.abs(colour - shifted(colour, dy, dx)).max(axis=-1) > tolerance
    ys, xs = np.nonzero(differs)
    here = colour[ys, xs].astype(np.float32)
    for dy, dx in ((0, 1), (1, 0)):
        for before, after in ((1, 1), (1, 2), (2, 1)):
            ay, ax = ys - before * dy, xs - before * dx
            by, bx = ys + after * dy, xs + after * dx
            valid = (ay >= 0) & (ax >= 0) & (by < height) & (bx < width)
            a = colour[ay.clip(0, height - 1), ax.clip(0, width - 1)].astype(np.float32)
            b = colour[by.clip(0, height - 1), bx.clip(0, width - 1)].astype(np.float32)
            span = b - a
            t = ((here - a) * span).sum(axis=-1) / np.maximum((span**2).sum(axis=-1), 1.0)
            closest = a + np.clip(t, 0, 1)[:, None] * span
            on_segment = np.abs(here - closest).max(axis=-1) <= tolerance / 2
            apart = np.abs(span).max(axis=-1) > 2 * tolerance
            far = (np.abs(here - a).max(axis=-1) > tolerance) & (np.abs(here - b).max(axis=-1) > tolerance)
            hit = valid & on_segment & apart & far & (t > 0) & (t < 1)
            found[ys[hit], xs[hit]] = True
    return found


def opened(mask: np.ndarray, size: int) -> np.ndarray:
    """Morphological opening with a `size` x `size` square: `mask` without the parts thinner than `size`."""
    if size <= 1:
        return mask
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    image = image.filter(ImageFilter.MinFilter(size)).filter(ImageFilter.MaxFilter(size))
    return np.asarray(image) > 0


def outward(image: np.ndarray, dy: int, dx: int, tolerance: int) -> np.ndarray:
    """Per pixel, the colour further out along (dy, dx): the next pixel's, or the one after it where the next
    has the same colour (an edge blend two pixels wide)."""
    near = shifted(image, dy, dx)
    far = shifted(image, 2 * dy, 2 * dx)
    same = matches(near, image, tolerance)
    return np.where(same[..., None], far, near)


def shown_pixels(image: np.ndarray, mask: np.ndarray, rgb: np.ndarray, tolerance: int, steps: int = 2) -> np.ndarray:
    """Where a component (`mask`, `rgb`) shows in one image: mask pixels of its colour, and up to `steps` rings
    of mask pixels next to those whose colour is nearer the shown neighbour's than the colour further out
    (`outward`): its blended edge."""
    shown = mask & matches(image, rgb, tolerance)
    candidates = mask & ~shown
    if not candidates.any():
        return shown
    nearer = [
        colour_distance(image, shifted(image, -dy, -dx)) < colour_distance(image, outward(image, dy, dx, tolerance))
        for dy, dx in DIRECTIONS
    ]
    for _ in range(steps):
        grown = shown.copy()
        for (dy, dx), closer in zip(DIRECTIONS, nearer, strict=True):
            grown |= candidates & shifted(shown, -dy, -dx, fill=False) & closer
        shown = grown
    return shown
