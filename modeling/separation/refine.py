"""Masks found on blocks, brought to full resolution from the carriers' own pixels.

Peeling on blocks (`grid.block_grid`) says which blocks a value covers and, for each of its carriers,
where it shows. The carriers used are chosen so that every block of the value is shown by a few of them (a head
hidden by hats in most tokens is seen whole in the bare-headed ones). At full resolution a pixel belongs to the
value where most of the carriers expected to show it there (it shows in their block or a neighbouring one)
agree on a colour, and that colour is the value's own in a neighbouring block (not a background that most of
them happen to share; within a looser tolerance, `own_tolerance`, for the blurred edge that resampling makes) or
the pixel lies in a hole of the value's mask (the blend between two of its colours): a first pass over the
carriers finds the colour (a majority vote with the tolerance),
a second counts who shows it (a carrier whose pixel is an anti-aliased edge next to the colour does not
vote). Then, as on the pool at full resolution, thin lines are dropped and the ring of
anti-aliased edge pixels that the layer covers at least half of is added (nearer its colour than the colour
further out, in most carriers). Each carrier's image is decoded once per pass, whichever values it carries;
memory is a few arrays per value over its bounding box.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_fill_holes

from modeling.separation.grid import WorkingGrid
from modeling.separation.peeling import Layer
from modeling.separation.pixels import DIRECTIONS, bounding_box, colour_distance, matches, opened

REFINE_CARRIERS = 12  # carriers of each value whose full-resolution pixels decide, at least
MAX_REFINE_CARRIERS = 32  # and at most, to show each of its blocks in `MIN_CARRIERS` of them
MIN_CARRIERS = 3
MIN_THICKNESS = 3
BLUR_MARGIN = 8  # levels beyond twice the tolerance that an edge pixel may differ from the value's own colour
NEIGHBOUR_CELLS = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1))  # own cell first


def own_tolerance(tolerance: int) -> int:
    """How far an agreed colour may be from the value's own in a neighbouring block: a layer's edge, blurred by
    resampling, is still mostly its colour one or two pixels in."""
    return 2 * tolerance + BLUR_MARGIN


def _dilated(cells: np.ndarray) -> np.ndarray:
    """`cells` (bool rows x cols) grown by one cell in the four directions."""
    grown = cells.copy()
    grown[1:] |= cells[:-1]
    grown[:-1] |= cells[1:]
    grown[:, 1:] |= cells[:, :-1]
    grown[:, :-1] |= cells[:, 1:]
    return grown


@dataclass
class _Plan:
    """One value's refinement: its box at full resolution, the cells it covers and their colours, and counters."""

    opaque: np.ndarray  # rows x cols bool
    colour: np.ndarray  # rows x cols x 3
    rows: np.ndarray  # full-resolution row -> cell row, inside the box
    cols: np.ndarray
    box: tuple[slice, slice]
    region: np.ndarray  # box-sized bool: where the value may be (its cells and one cell around)
    candidate: np.ndarray  # box x 3: the majority colour so far
    lead: np.ndarray  # box int16: its lead in the majority vote
    counted: np.ndarray  # box int16: carriers expected here
    votes: np.ndarray  # box int16: of those, showing the colour
    band: np.ndarray  # flat box indices where an edge can be: near the boundary of the value's cells
    neighbours: np.ndarray  # 4 directions x 3 steps (-1, +1, +2) x band: flat box indices of the neighbours
    seen: np.ndarray  # 4 x band int16: per direction, carriers showing the colour at the inner neighbour
    nearer: np.ndarray  # 4 x band int16: of those, nearer it than the colour further out here
    inner_colour: np.ndarray | None = None  # 4 x band x 3: the majority colour at each inner neighbour

    def expected(self, work: np.ndarray, tolerance: int) -> np.ndarray:
        """Box-sized bool: where this carrier (its working-grid image) is expected to show the value."""
        shows = self.opaque & matches(work, self.colour, tolerance)
        # inside the value's blocks only where this carrier shows it (not under another layer's block);
        # around them, next to a block where it does (the value's edge may reach into the next block)
        expected = shows | (_dilated(shows) & ~self.opaque)
        return expected[self.rows[:, None], self.cols[None, :]] & self.region


def _neighbours(band: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """For each direction and step (-1, +1, +2 along it), the flat index of each band pixel's neighbour (the
    nearest pixel inside the box where it falls outside)."""
    ys, xs = np.divmod(band, shape[1])
    out = np.empty((len(DIRECTIONS), 3, len(band)), dtype=np.int64)
    for n, (dy, dx) in enumerate(DIRECTIONS):
        for m, step in enumerate((-1, 1, 2)):
            y = np.clip(ys + step * dy, 0, shape[0] - 1)
            x = np.clip(xs + step * dx, 0, shape[1] - 1)
            out[n, m] = y * shape[1] + x
    return out


def _plan(layer: Layer, grid: WorkingGrid) -> _Plan | None:
    opaque = layer.opaque.reshape(grid.cells)
    if not opaque.any():
        return None
    region_cells = _dilated(opaque)
    inside = opaque & ~_dilated(~opaque)  # cells whose neighbours are the value's too: no edge within reach
    row_of, col_of = grid.cell_index(0), grid.cell_index(1)
    region = region_cells[row_of[:, None], col_of[None, :]]
    x0, y0, x1, y1 = bounding_box(region)
    box = (slice(y0, y1), slice(x0, x1))
    shape = (y1 - y0, x1 - x0)
    zeros = np.zeros(shape, dtype=np.int16)
    edge = region[box] & ~inside[row_of[box[0]][:, None], col_of[box[1]][None, :]]
    band = np.flatnonzero(edge)
    return _Plan(
        opaque=opaque,
        colour=layer.colour.reshape(*grid.cells, 3),
        rows=row_of[box[0]],
        cols=col_of[box[1]],
        box=box,
        region=region[box],
        candidate=np.zeros((*shape, 3), dtype=np.uint8),
        lead=zeros.copy(),
        counted=zeros.copy(),
        votes=zeros.copy(),
        band=band,
        neighbours=_neighbours(band, shape),
        seen=np.zeros((len(DIRECTIONS), len(band)), dtype=np.int16),
        nearer=np.zeros((len(DIRECTIONS), len(band)), dtype=np.int16),
    )


def _vote_majority(plan: _Plan, pixels: np.ndarray, expected: np.ndarray, tolerance: int) -> None:
    """One step of the majority vote (Boyer-Moore, colours equal within `tolerance`) where `expected`."""
    same = matches(pixels, plan.candidate, tolerance)
    fresh = expected & (plan.lead == 0)
    plan.candidate[fresh] = pixels[fresh]
    plan.lead[fresh] = 1
    rest = expected & ~fresh
    plan.lead[rest & same] += 1
    plan.lead[rest & ~same] -= 1


def _count(plan: _Plan, pixels: np.ndarray, expected: np.ndarray, tolerance: int) -> None:
    """Who shows the majority colour, and on the band, per direction, the edge votes (module docstring)."""
    shows = matches(pixels, plan.candidate, tolerance)
    # a pixel next to the colour but not of it is an anti-aliased edge in this carrier (its own or an
    # occluder's): it tells nothing about the pixel, so it does not vote
    voting = expected & (shows | ~_dilated(shows))
    plan.counted += voting
    plan.votes += voting & shows
    if not len(plan.band):
        return
    if plan.inner_colour is None:  # the majority colours are final once counting starts
        plan.inner_colour = plan.candidate.reshape(-1, 3)[plan.neighbours[:, 0]]
    flat = pixels.reshape(-1, 3)
    here = flat[plan.band][None]
    around = flat[plan.neighbours]  # directions x steps x band x 3, in one gather
    inner, near, far = around[:, 0], around[:, 1], around[:, 2]
    outside = np.where(matches(near, here, tolerance)[..., None], far, near)
    seen = expected.ravel()[plan.neighbours[:, 0]] & matches(inner, plan.inner_colour, tolerance)
    plan.seen += seen
    plan.nearer += seen & (colour_distance(here, plan.inner_colour) < colour_distance(here, outside))


def _own_colour(plan: _Plan, tolerance: int, where: np.ndarray) -> np.ndarray:
    """Box-sized bool, at the pixels of `where` only: the majority colour is the value's own in the pixel's block
    or a neighbouring one (the pixel's own block first; a neighbour is asked only where no block matched yet)."""
    rows, cols = plan.opaque.shape
    own = np.zeros(where.shape, dtype=bool)
    ys, xs = np.nonzero(where)
    cell_rows, cell_cols, candidate = plan.rows[ys], plan.cols[xs], plan.candidate[ys, xs]
    pending = np.arange(len(ys))
    for dy, dx in NEIGHBOUR_CELLS:
        r = np.clip(cell_rows[pending] + dy, 0, rows - 1)
        c = np.clip(cell_cols[pending] + dx, 0, cols - 1)
        found = plan.opaque[r, c] & matches(candidate[pending], plan.colour[r, c], tolerance)
        own[ys[pending[found]], xs[pending[found]]] = True
        pending = pending[~found]
        if not len(pending):
            break
    return own


def _finish(plan: _Plan, carriers: int, full: tuple[int, int], tolerance: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The value's full-resolution mask, colours and confidence from its counters."""
    needed = min(MIN_CARRIERS, carriers)
    agreed = (plan.counted >= needed) & (2 * plan.votes >= plan.counted) & plan.region
    core = opened(_own_colour(plan, own_tolerance(tolerance), agreed), MIN_THICKNESS)
    # inside the value, where its carriers agree on a colour that is none of its own: the blend between two of
    # its colours (a pupil's edge), which resampling makes
    core |= binary_fill_holes(core) & agreed
    colour = plan.candidate.reshape(-1, 3).copy()
    flat_core = core.ravel()
    added = np.zeros_like(flat_core)
    for n in range(len(DIRECTIONS)):
        inner = plan.neighbours[n][0]
        ring = flat_core[inner] & ~flat_core[plan.band] & ~added[plan.band]
        grow = ring & (plan.seen[n] >= needed) & (2 * plan.nearer[n] >= plan.seen[n])
        colour[plan.band[grow]] = colour[inner[grow]]
        added[plan.band[grow]] = True
    kept = (flat_core | added).reshape(core.shape)
    mask = np.zeros(full, dtype=bool)
    rgb = np.zeros((*full, 3), dtype=np.uint8)
    mask[plan.box] = kept
    rgb[plan.box] = np.where(kept[..., None], colour.reshape(*core.shape, 3), 0)
    share = plan.votes[core] / np.maximum(plan.counted[core], 1)
    return mask, rgb, float(share.mean()) if core.any() else 0.0


def _covering(positions: np.ndarray, plan: _Plan, stack: np.ndarray, tolerance: int) -> list[int]:
    """Carriers (pool positions) that together show every block of the value in `MIN_CARRIERS` of them, as far
    as its carriers can: greedily the one showing most blocks still short, then the first others up to
    `REFINE_CARRIERS`; at most `MAX_REFINE_CARRIERS`."""
    shows = plan.opaque[None] & matches(stack[positions], plan.colour[None], tolerance)  # carriers x rows x cols
    flat = shows.reshape(len(positions), -1)
    wanted = np.minimum(flat.sum(axis=0), MIN_CARRIERS)  # what each block can get
    have = np.zeros_like(wanted)
    chosen: list[int] = []
    free = np.ones(len(positions), dtype=bool)
    while len(chosen) < MAX_REFINE_CARRIERS and free.any():
        short = have < wanted
        if not short.any() and len(chosen) >= REFINE_CARRIERS:
            break
        gain = np.where(free, (flat & short).sum(axis=1), -1)
        best = int(np.argmax(gain)) if short.any() else int(np.flatnonzero(free)[0])
        chosen.append(best)
        free[best] = False
        have += flat[best]
    return [int(positions[n]) for n in chosen]


def refine_layers(
    layers: list[Layer],
    carriers: list[np.ndarray],
    stack: np.ndarray,
    ids: list[int],
    grid: WorkingGrid,
    load_image: Callable[[int], np.ndarray],
    tolerance: int,
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Each layer (found on `grid`'s blocks) as (mask, rgb, confidence) at full resolution, from up to
    `REFINE_CARRIERS` of its carriers (`carriers[k]`: pool positions; `stack`: the pool on the grid; `ids`:
    pool position -> token for `load_image`)."""
    plans = [_plan(layer, grid) for layer in layers]
    users: dict[int, list[int]] = defaultdict(list)  # pool position -> values it refines
    used = [
        _covering(np.flatnonzero(has), plan, stack, tolerance) if plan else []
        for has, plan in zip(carriers, plans, strict=True)
    ]
    for k, positions in enumerate(used):
        for position in positions:
            users[int(position)].append(k)
    for step in (_vote_majority, _count):
        for position in sorted(users):
            image = load_image(ids[position])
            for k in users[position]:
                plan = plans[k]
                step(plan, image[plan.box], plan.expected(stack[position], tolerance), tolerance)
    empty = (np.zeros(grid.full, dtype=bool), np.zeros((*grid.full, 3), dtype=np.uint8), 0.0)
    return [
        _finish(plan, len(positions), grid.full, tolerance) if plan else empty
        for plan, positions in zip(plans, used, strict=True)
    ]
