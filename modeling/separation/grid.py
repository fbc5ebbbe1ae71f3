"""The small images separation works on, and the way back to the dataset's resolution.

Pixel art is drawn on a small grid (CryptoPunks 24 x 24, many collections 32 or 40) and shown upscaled, often by
a factor that is not whole (24 -> 512: cells of 21 or 22 pixels), sometimes resampled again or saved as JPEG.
`detect_grid` finds that grid from how a collection's column and row edges line up; separating on one colour
per cell (the median of the cell's central part, which resampling and JPEG leave nearly clean) is exact, and
hundreds of times cheaper than on every pixel. Art that has no such grid is sampled in square blocks (the
centre pixel of each), and its masks are refined at full resolution afterwards (`modeling.separation.refine`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

MIN_CELLS = 8  # fewer cells across than this is no pixel art
MIN_CELL_PIXELS = 6.0  # cells narrower than this are indistinguishable from smooth art's edges
EDGE_SHARE = 0.75  # of the column (row) edge energy that must lie on the grid's cell boundaries
RECONSTRUCTED_SHARE = 0.9  # of pixels that the cell colours must reproduce (within `RECONSTRUCTION_TOLERANCE`)
RECONSTRUCTION_TOLERANCE = 24
CELL_SAMPLES = 3  # per cell and axis: the points whose median is the cell's colour


@lru_cache(maxsize=64)
def nearest_source(size: int, new_size: int) -> np.ndarray:
    """For each of `new_size` output pixels along an axis, the input pixel Pillow's NEAREST resize takes (its
    fixed-point arithmetic, read off a resized ramp)."""
    ramp = Image.fromarray(np.arange(size, dtype=np.int32)[None, :], mode="I")
    return np.asarray(ramp.resize((new_size, 1), Image.Resampling.NEAREST))[0].astype(np.int64)


@dataclass(frozen=True)
class WorkingGrid:
    """`cells` (rows, cols) over images of `full` (height, width): the cells of pixel art (``native``) or blocks."""

    full: tuple[int, int]
    cells: tuple[int, int]
    native: bool

    @property
    def pixels(self) -> int:
        return self.cells[0] * self.cells[1]

    def _points(self, axis: int) -> np.ndarray:
        """Per cell along `axis`, the sample coordinates (cells x samples): the central half of each cell for
        pixel art, the centre of each block otherwise."""
        cells, full = self.cells[axis], self.full[axis]
        size = full / cells
        if not self.native:
            return self._centre_points(axis)[:, None]
        offsets = (np.arange(CELL_SAMPLES) + 0.5) / CELL_SAMPLES * 0.5 + 0.25  # inside the central half
        points = (np.arange(cells)[:, None] + offsets[None, :]) * size
        return np.clip(points.astype(np.int64), 0, full - 1)

    def sample(self, image: np.ndarray) -> np.ndarray:
        """`image` (H x W x 3 at `full`) as one colour per cell: rows x cols x 3 uint8."""
        ys, xs = self._points(0), self._points(1)
        points = image[ys.reshape(-1)[:, None], xs.reshape(-1)[None, :]]  # (rows*k) x (cols*k) x 3
        if ys.shape[1] == 1:
            return np.ascontiguousarray(points)
        k = CELL_SAMPLES
        blocks = points.reshape(self.cells[0], k, self.cells[1], k, 3).transpose(0, 2, 4, 1, 3)
        return np.median(blocks.reshape(*self.cells, 3, k * k), axis=-1).round().astype(np.uint8)

    def centres(self, array: np.ndarray) -> np.ndarray:
        """A full-resolution array (H x W [x ...]) read at each cell's centre: exact for one that `upsample` made."""
        return array[self._centre_points(0)[:, None], self._centre_points(1)[None, :]]

    def _centre_points(self, axis: int) -> np.ndarray:
        """Per cell along `axis`, the coordinate of its centre pixel."""
        cells, full = self.cells[axis], self.full[axis]
        return np.minimum(((np.arange(cells) + 0.5) * full / cells).astype(np.int64), full - 1)

    def cell_index(self, axis: int) -> np.ndarray:
        """For every full-resolution row (axis 0) or column (1), its cell: as Pillow's NEAREST resize maps pixels,
        so an upscaled image's cells are exactly these (and a resampled one's within a pixel)."""
        return nearest_source(self.cells[axis], self.full[axis])

    def upsample(self, array: np.ndarray) -> np.ndarray:
        """A per-cell array (rows x cols [x ...]) at full resolution, each cell's value over its pixels."""
        return array[self.cell_index(0)[:, None], self.cell_index(1)[None, :]]


def block_grid(full: tuple[int, int], max_pixels: int) -> WorkingGrid:
    """Square blocks over `full` (height, width), as few as give at most `max_pixels` cells (one if it fits)."""
    block = max(1, int(np.ceil(np.sqrt(full[0] * full[1] / max_pixels))))
    return WorkingGrid(full, (max(1, full[0] // block), max(1, full[1] // block)), native=False)


EDGE_STEP = 32  # a colour change larger than this (any channel) counts as an edge: JPEG ringing stays below it


def _edge_profile(images: list[np.ndarray], axis: int) -> np.ndarray:
    """How many edges lie between neighbouring columns (axis 1) or rows (axis 0), over the images."""
    total = None
    for image in images:
        step = np.abs(np.diff(image.astype(np.int16), axis=axis)).max(axis=2) > EDGE_STEP
        edges = step.sum(axis=1 - axis)
        total = edges if total is None else total + edges
    return total.astype(np.float64)


def _boundary_share(profile: np.ndarray, cells: int) -> float:
    """The share of `profile` (edge energy between pixel j and j + 1) within reach of the boundaries that
    `cells` equal cells put across it: near k * size - 1, give or take a tenth of a cell (resampling blurs)."""
    full = len(profile) + 1
    size = full / cells
    reach = max(1.5, 0.1 * size)
    centres = np.arange(1, cells) * size - 1
    positions = np.arange(len(profile))
    nearest = np.abs(positions[:, None] - centres[None, :]).min(axis=1)
    total = profile.sum()
    return float(profile[nearest <= reach].sum() / total) if total > 0 else 0.0


def _reproduced(images: list[np.ndarray], grid: WorkingGrid) -> float:
    """The share of pixels that the grid's cell colours reproduce within `RECONSTRUCTION_TOLERANCE`."""
    shares = []
    for image in images:
        rebuilt = grid.upsample(grid.sample(image))
        difference = np.abs(rebuilt.astype(np.int16) - image.astype(np.int16)).max(axis=-1)
        shares.append(float((difference <= RECONSTRUCTION_TOLERANCE).mean()))
    return float(np.mean(shares))


def _best_cells(profile: np.ndarray, candidates: range) -> list[int]:
    return [cells for cells in candidates if _boundary_share(profile, cells) >= EDGE_SHARE]


def detect_grid(images: list[np.ndarray]) -> WorkingGrid | None:
    """The pixel-art grid of a collection from a sample of its images (all one size), or None: the fewest
    cells across whose boundaries hold most of the column edges, with the matching rows, such that the cells'
    colours reproduce the images (`RECONSTRUCTED_SHARE`)."""
    height, width = images[0].shape[:2]
    columns = _edge_profile(images, axis=1)
    rows = _edge_profile(images, axis=0)
    if columns.sum() == 0 or rows.sum() == 0:
        return None  # flat images: nothing to tell a grid by
    for across in _best_cells(columns, range(MIN_CELLS, int(width / MIN_CELL_PIXELS) + 1)):
        square = round(across * height / width)  # pixel art has square pixels: the rows follow
        down = [d for d in _best_cells(rows, range(max(MIN_CELLS, square - 1), square + 2))]
        for cells_down in sorted(down, key=lambda d: abs(d - square)):
            grid = WorkingGrid((height, width), (cells_down, across), native=True)
            if _reproduced(images, grid) >= RECONSTRUCTED_SHARE:
                return grid
    return None
