"""The masking preview: a PNG sheet of training pairs before and after dynamic masking, image and caption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from modeling.separation.sheets import labelled, tile_grid
from nft1000_io.atomic import atomic_write_png


def masking_sheet(pairs: list[tuple[np.ndarray, np.ndarray, str, str]], tile: int = 192) -> Image.Image:
    """Original and masked image side by side, each with its caption: (original, masked, caption, masked caption)."""
    tiles = []
    for original, masked, caption, masked_caption in pairs:
        for image, text in ((original, caption), (masked, masked_caption)):
            shown = Image.fromarray(image)
            shown = shown.resize((tile, round(tile * shown.height / shown.width)), Image.Resampling.NEAREST)
            tiles.append(labelled(shown, text, tile))
    return tile_grid(tiles, 4)


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
