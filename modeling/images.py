"""Dataset images to RGB pixels: undecoded PNG bytes go to libspng where the `fast` extra installed it (Pillow's
pixels, decoded ~30 % faster), anything else to Pillow; `RowImages` decodes chosen rows of a dataset."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

try:  # optional: a faster PNG decoder (the `fast` extra)
    import pyspng
except ImportError:
    pyspng = None

if TYPE_CHECKING:
    from datasets import Dataset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rgb8_png(data: bytes) -> bool:
    """An 8-bit RGB or RGBA PNG (IHDR's bit depth and colour type): libspng decodes it to Pillow's pixels."""
    header_ok = data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"  # slices: a truncated file goes to Pillow
    return header_ok and data[24:25] == b"\x08" and data[25:26] in (b"\x02", b"\x06")


def decoded(image: Any) -> Image.Image | np.ndarray:
    """A PIL image (RGB) or an H x W x 3 array, from whatever a dataset row holds: a PIL image, an array, or an
    undecoded `datasets` Image ({"bytes", "path"})."""
    if isinstance(image, dict):
        data = image.get("bytes") or Path(image["path"]).read_bytes()
        if pyspng is not None and _rgb8_png(data):
            return pyspng.load(data)[..., :3]  # RGBA -> RGB drops alpha, as Pillow's convert does
        image = Image.open(io.BytesIO(data))
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(image)


def rgb_pixels(image: Any) -> np.ndarray:
    """`decoded` as an H x W x 3 uint8 array."""
    return np.asarray(decoded(image))


class RowImages:
    """Decodes the image of dataset row ``rows[i]`` as an RGB uint8 array; picklable for worker processes."""

    def __init__(self, dataset: Dataset, rows: list[int]):
        from datasets import Image as ImageFeature

        self.images = dataset.select_columns(["image"]).cast_column("image", ImageFeature(decode=False))
        self.rows = rows

    def __call__(self, i: int) -> np.ndarray:
        return rgb_pixels(self.images[self.rows[i]]["image"])
