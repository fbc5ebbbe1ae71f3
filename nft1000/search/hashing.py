"""Perceptual hashes that survive what a pirate does to a copy: re-encoding and re-scaling (a DCT hash of the
luminance), recolouring (the same hash of the colour edges, which a colour map does not move), horizontal flips
and a 10 % crop (each hash is also kept for the mirrored image and for the centre 90 % scaled back).

A token's hashes are a (6, 32) uint8 array, one 256-bit hash a row, in the order of `VARIANTS`; the distance of
two tokens is the smallest bit distance between a variant of one and the plain hash of the same kind of the other.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.fft import dctn

VARIANTS = ("luma", "edges", "luma_flip", "edges_flip", "luma_crop", "edges_crop")
PLAIN_ROW = np.array([0, 1, 0, 1, 0, 1])  # the plain hash each variant is compared with
HASH_SIZE = 64  # the image is reduced to HASH_SIZE x HASH_SIZE; the hash keeps the LOW x LOW lowest frequencies
LOW = 16  # 256-bit hashes: PFPs of one style differ in small parts, which 64 bits do not separate
CROP = 0.9  # the centre part kept by the crop variant
HASH_BITS = LOW * LOW
EDGE_STEP = 48  # a colour step smaller than this is no edge (JPEG ringing stays below it)
BANDS = 16  # 16-bit bands of a hash, for candidate look-up: a distance under 16 bits leaves one band equal


def dct_hash(plane: np.ndarray) -> np.ndarray:
    """DCT hash of a 2-D float array: the LOW x LOW lowest frequencies above their median (pHash), packed."""
    image = Image.fromarray(plane.astype(np.float32), mode="F")
    reduced = np.asarray(image.resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BOX))
    low = dctn(reduced, norm="ortho")[:LOW, :LOW].ravel()
    return np.packbits(low > np.median(low[1:]))


def colour_edges(rgb: np.ndarray) -> np.ndarray:
    """Where neighbouring pixels differ in colour (largest channel difference), whatever the colours are."""
    pixels = rgb.astype(np.int16)
    dx = np.abs(np.diff(pixels, axis=1, append=pixels[:, -1:])).max(axis=2)
    dy = np.abs(np.diff(pixels, axis=0, append=pixels[-1:])).max(axis=2)
    return (np.maximum(dx, dy) > EDGE_STEP).astype(np.float32)


def _planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return luma, colour_edges(rgb)


def perceptual_hashes(image: Image.Image, work_size: int = 256) -> np.ndarray:
    """The (6, 32) hashes of `image`, rows in the order of `VARIANTS`."""
    rgb_image = image.convert("RGB")
    luma, edges = _planes(np.asarray(rgb_image.resize((work_size, work_size), Image.Resampling.BILINEAR)))
    w, h = rgb_image.size
    margin_x, margin_y = round(w * (1 - CROP) / 2), round(h * (1 - CROP) / 2)
    cropped = rgb_image.crop((margin_x, margin_y, w - margin_x, h - margin_y))
    luma_crop, edges_crop = _planes(np.asarray(cropped.resize((work_size, work_size), Image.Resampling.BILINEAR)))
    planes = (luma, edges, luma[:, ::-1], edges[:, ::-1], luma_crop, edges_crop)
    return np.stack([dct_hash(plane) for plane in planes])


def hash_distance(token: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Smallest bit distance between any variant of `token` (6, 32) and the plain hashes of each of `others`
    (n, 6, 32): an (n,) array."""
    plain = others[:, PLAIN_ROW]  # (n, 6, 32): the plain hash of the kind of each variant
    bits = np.unpackbits(np.bitwise_xor(token[None], plain), axis=-1).sum(axis=-1)  # (n, 6)
    return bits.min(axis=1)


class BandTable:
    """Tokens by the 16-bit bands of their plain hashes: the tokens sharing at least one band with a query are
    its candidates (any token within 15 bits shares one), found by binary search, without comparing all pairs.
    Bands shared by more than `max_bucket` tokens (flat backgrounds) say nothing and are skipped."""

    def __init__(self, hashes: np.ndarray, rows: np.ndarray, max_bucket: int = 256):
        bands = np.ascontiguousarray(hashes[:, :2]).view(">u2")  # (n, 2 kinds, BANDS)
        self.rows, self.max_bucket = rows, max_bucket
        self.order = [[np.argsort(bands[:, k, b], kind="stable") for b in range(BANDS)] for k in range(2)]
        self.sorted = [[bands[self.order[k][b], k, b] for b in range(BANDS)] for k in range(2)]

    def candidates(self, token: np.ndarray) -> np.ndarray:
        """Rows sharing a band with any variant of `token` (6, 32), compared with the plain hash of its kind."""
        bands = np.ascontiguousarray(token).view(">u2")  # (6, BANDS)
        found = []
        for variant, kind in enumerate(PLAIN_ROW):
            for b in range(BANDS):
                values = self.sorted[kind][b]
                lo, hi = (
                    np.searchsorted(values, bands[variant, b], "left"),
                    np.searchsorted(values, bands[variant, b], "right"),
                )
                if 0 < hi - lo <= self.max_bucket:
                    found.append(self.order[kind][b][lo:hi])
        return self.rows[np.unique(np.concatenate(found))] if found else self.rows[:0]
