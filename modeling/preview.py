"""PNG sheets a person can check by eye: each collection's components, and masked training pairs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nft1000_io.atomic import atomic_write_png

from .component import Component

CHECKER = (200, 200, 200), (235, 235, 235)


def _checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    ys, xs = np.indices((height, width)) // cell
    board = np.where(((ys + xs) % 2)[..., None] == 0, CHECKER[0], CHECKER[1])
    return board.astype(np.uint8)


def _label(tile: Image.Image, text: str, width: int) -> Image.Image:
    lines = textwrap.wrap(text, width=max(8, width // 7))[:4]
    canvas = Image.new("RGB", (tile.width, tile.height + 12 * len(lines) + 4), "white")
    canvas.paste(tile, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for n, line in enumerate(lines):
        draw.text((2, tile.height + 2 + 12 * n), line, fill="black")
    return canvas


def _grid(tiles: list[Image.Image], columns: int) -> Image.Image:
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
        cutout = np.where(component.mask[..., None], component.rgb, _checkerboard(height, width))
        image = Image.fromarray(cutout).resize((tile, round(tile * height / width)), Image.Resampling.NEAREST)
        text = f"{component.trait_type}: {component.value} (n={component.support})"
        tiles.append(_label(image, text, tile))
    return _grid(tiles, columns)


def masking_sheet(pairs: list[tuple[np.ndarray, np.ndarray, str, str]], tile: int = 192) -> Image.Image:
    """Original and masked image side by side, each with its caption: (original, masked, caption, masked caption)."""
    tiles = []
    for original, masked, caption, masked_caption in pairs:
        for image, text in ((original, caption), (masked, masked_caption)):
            shown = Image.fromarray(image)
            shown = shown.resize((tile, round(tile * shown.height / shown.width)), Image.Resampling.NEAREST)
            tiles.append(_label(shown, text, tile))
    return _grid(tiles, 4)


def preview_masking(rows, masker, seed: int, out: Path) -> None:
    """A sheet of each row before and after masking (image and caption), written to `out`."""

    rng = np.random.default_rng(seed)
    pairs = []
    for row in rows:
        image = np.asarray(row["image"].convert("RGB"))
        sample = masker(image, row["collection"], row["attributes"], rng)
        pairs.append((image, sample.image, row["caption"], sample.caption))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_png(out, masking_sheet(pairs))
