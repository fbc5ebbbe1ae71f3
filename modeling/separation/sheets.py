"""PNG sheets a person can check by eye: each collection's components cut out over a checkerboard (written by
`nft1000 components`), and the tiles and labels every sheet is made of (the masking preview uses them too)."""

from __future__ import annotations

import textwrap

import numpy as np
from PIL import Image, ImageDraw

from modeling.separation.component import Component

CHECKER = (200, 200, 200), (235, 235, 235)


def checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    ys, xs = np.indices((height, width)) // cell
    board = np.where(((ys + xs) % 2)[..., None] == 0, CHECKER[0], CHECKER[1])
    return board.astype(np.uint8)


def labelled(tile: Image.Image, text: str, width: int) -> Image.Image:
    lines = textwrap.wrap(text, width=max(8, width // 7))[:4]
    canvas = Image.new("RGB", (tile.width, tile.height + 12 * len(lines) + 4), "white")
    canvas.paste(tile, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for n, line in enumerate(lines):
        draw.text((2, tile.height + 2 + 12 * n), line, fill="black")
    return canvas


def tile_grid(tiles: list[Image.Image], columns: int) -> Image.Image:
    if not tiles:
        return Image.new("RGB", (64, 64), "white")
    width, height = max(t.width for t in tiles), max(t.height for t in tiles)
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for n, tile in enumerate(tiles):
        sheet.paste(tile, ((n % columns) * width, (n // columns) * height))
    return sheet


def component_sheet(components: list[Component], tile: int = 160, columns: int = 8) -> Image.Image:
    """Each component cut out over a checkerboard, with its trait type, value and support."""
    tiles = []
    for component in sorted(components, key=lambda c: c.key):
        height, width = component.mask.shape
        cutout = np.where(component.mask[..., None], component.rgb, checkerboard(height, width))
        image = Image.fromarray(cutout).resize((tile, round(tile * height / width)), Image.Resampling.NEAREST)
        text = f"{component.trait_type}: {component.value} (n={component.support})"
        tiles.append(labelled(image, text, tile))
    return tile_grid(tiles, columns)
