"""A separated component: what one trait value looks like and where it is, stored as its bounding-box crop.

A component covers a small part of the image (a hat, a pair of eyes), so it is held as the crop of its mask and
colours plus the image size; full-size arrays are made only when asked for (`mask`, `rgb`). Resizing to the
collator's working size maps pixels exactly as Pillow's NEAREST resize of the full image would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from modeling.separation.grid import WorkingGrid, nearest_source
from modeling.separation.pixels import bounding_box, matches, shown_pixels

TraitKey = tuple[str, str]  # (trait_type, value)
EDGE_MARGIN = 3  # pixels around the box that the blended-edge rule of `shown_pixels` looks at


@dataclass
class Component:
    """One separated component at the dataset's resolution: its box (x0, y0, x1, y1; ends exclusive) in an image
    of `size` (height, width), and the mask and colours inside the box."""

    collection: str
    trait_type: str
    value: str
    box: tuple[int, int, int, int]
    size: tuple[int, int]
    mask_crop: np.ndarray  # bool, box height x box width
    rgb_crop: np.ndarray  # uint8, box height x box width x 3 (zero outside the mask)
    support: int
    confidence: float
    method: str
    positives: int
    contrast: int
    grid: WorkingGrid | None = None  # pixel art's own grid, on which token masks are judged

    @classmethod
    def from_arrays(cls, mask: np.ndarray, rgb: np.ndarray, **fields) -> Component:
        """A component from a full-size mask (H x W bool) and colours (H x W x 3), cropped to the mask."""
        x0, y0, x1, y1 = bounding_box(mask)
        crop = (slice(y0, y1), slice(x0, x1))
        rgb_crop = np.where(mask[crop][..., None], rgb[crop], 0).astype(np.uint8)
        return cls(box=(x0, y0, x1, y1), size=mask.shape[:2], mask_crop=mask[crop].copy(), rgb_crop=rgb_crop, **fields)

    @property
    def key(self) -> TraitKey:
        return (self.trait_type, self.value)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return self.box

    @property
    def area(self) -> int:
        return int(self.mask_crop.sum())

    @property
    def nbytes(self) -> int:
        return self.mask_crop.nbytes + self.rgb_crop.nbytes

    @property
    def slices(self) -> tuple[slice, slice]:
        x0, y0, x1, y1 = self.box
        return slice(y0, y1), slice(x0, x1)

    @property
    def mask(self) -> np.ndarray:
        """The full-size mask (H x W bool)."""
        full = np.zeros(self.size, dtype=bool)
        full[self.slices] = self.mask_crop
        return full

    @property
    def rgb(self) -> np.ndarray:
        """The full-size colours (H x W x 3, zero outside the mask)."""
        full = np.zeros((*self.size, 3), dtype=np.uint8)
        full[self.slices] = self.rgb_crop
        return full

    def resized(self, shape: tuple[int, int]) -> Component:
        """The same component in an image of `shape` (height, width), as Pillow's NEAREST resize of the full
        mask and colours gives it (e.g. at the collator's working size); the box is the resized mask's."""
        if shape == self.size:
            return self
        x0, y0, x1, y1 = self.box
        rows, cols = nearest_source(self.size[0], shape[0]), nearest_source(self.size[1], shape[1])
        inside_rows = np.flatnonzero((rows >= y0) & (rows < y1))
        inside_cols = np.flatnonzero((cols >= x0) & (cols < x1))
        mask = self.mask_crop[rows[inside_rows] - y0][:, cols[inside_cols] - x0]
        rgb = self.rgb_crop[rows[inside_rows] - y0][:, cols[inside_cols] - x0]
        if not mask.any():
            empty = (0, 0, 0, 0)
            return replace(self, box=empty, size=shape, mask_crop=mask[:0, :0], rgb_crop=rgb[:0, :0], grid=None)
        bx0, by0, bx1, by1 = bounding_box(mask)
        top, left = int(inside_rows[0]), int(inside_cols[0])
        box = (left + bx0, top + by0, left + bx1, top + by1)
        crop = (slice(by0, by1), slice(bx0, bx1))
        return replace(self, box=box, size=shape, mask_crop=mask[crop], rgb_crop=rgb[crop], grid=None)

    def token_mask(self, image: np.ndarray, tolerance: int) -> np.ndarray:
        """Where this component shows in one token (H x W bool): its mask where the token has the component's
        colours, with the blended edge next to them (`pixels.shown_pixels`); on pixel art's grid, cell by cell
        (each cell's colour is the median of its centre, which resampling and JPEG leave clean)."""
        if self.grid is not None and self.grid.full == image.shape[:2]:
            mask = self.mask
            shown = self.grid.centres(mask) & matches(self.grid.sample(image), self.grid.centres(self.rgb), tolerance)
            return self.grid.upsample(shown) & mask
        height, width = self.size
        x0, y0, x1, y1 = self.box
        top, left = max(y0 - EDGE_MARGIN, 0), max(x0 - EDGE_MARGIN, 0)
        bottom, right = min(y1 + EDGE_MARGIN, height), min(x1 + EDGE_MARGIN, width)
        window = (slice(top, bottom), slice(left, right))
        mask = np.zeros((bottom - top, right - left), dtype=bool)
        rgb = np.zeros((bottom - top, right - left, 3), dtype=np.uint8)
        inner = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
        mask[inner], rgb[inner] = self.mask_crop, self.rgb_crop
        shown = np.zeros((height, width), dtype=bool)
        shown[window] = shown_pixels(image[window], mask, rgb, tolerance)
        return shown
