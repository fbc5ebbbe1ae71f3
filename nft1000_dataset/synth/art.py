"""Drawing the trait layers of synthetic PFP collections.

A layer is an RGBA image at the collection's canvas size; every token is these layers composited in a
fixed order, so a layer is pixel-identical wherever it appears, the property the paper's method uses
(section 3.2). Pixel-art layers are drawn on a small grid and upscaled with NEAREST; smooth layers are
drawn at twice the canvas size and reduced, which gives anti-aliased edges.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .real import PATTERN, draw_pattern

# z-order of the layer kinds: lower kinds are drawn first and may be occluded by higher ones
LAYER_KINDS = ("background", "body", "clothing", "eyes", "mouth", "headwear", "accessory")

COLOURS: dict[str, tuple[int, int, int]] = {
    "Red": (214, 40, 57),
    "Orange": (245, 133, 24),
    "Yellow": (247, 208, 56),
    "Lime": (140, 214, 60),
    "Green": (40, 150, 80),
    "Teal": (32, 160, 160),
    "Cyan": (80, 210, 230),
    "Blue": (45, 90, 200),
    "Navy": (25, 35, 100),
    "Purple": (120, 60, 180),
    "Pink": (240, 120, 180),
    "Brown": (120, 75, 40),
    "Black": (25, 25, 30),
    "Grey": (130, 130, 140),
    "White": (240, 240, 235),
    "Gold": (212, 175, 55),
}
SKINS: dict[str, tuple[int, int, int]] = {
    "Pale": (250, 225, 200),
    "Tan": (215, 170, 120),
    "Brown": (150, 100, 60),
    "Dark": (90, 60, 40),
    "Green": (120, 180, 100),
    "Blue": (120, 160, 220),
    "Zombie": (140, 170, 130),
    "Gold": (220, 190, 90),
}
SHAPES: dict[str, tuple[str, ...]] = {
    "background": ("Plain", "Stripes", "Dots"),
    "body": ("Round Head", "Square Head", "Tall Head"),
    "clothing": ("Tee", "Hoodie", "Suit", "Tank"),
    "eyes": ("Round Eyes", "Visor", "Sleepy Eyes", "Laser Eyes"),
    "mouth": ("Smile", "Frown", "Open Mouth", "Pipe"),
    "headwear": ("Cap", "Beanie", "Crown", "Headband", "Mohawk"),
    "accessory": ("Earring", "Glasses", "Chain", "Eye Patch"),
}


@dataclass(frozen=True)
class Style:
    """How a collection is drawn: ``pixel`` on a ``grid`` x ``grid`` lattice, or ``smooth``."""

    kind: str
    canvas: tuple[int, int]  # (width, height)
    grid: int = 0


def _box(rect: tuple[float, float, float, float], size: tuple[int, int]) -> list[float]:
    w, h = size
    return [rect[0] * w, rect[1] * h, rect[2] * w, rect[3] * h]


def _draw_background(draw: ImageDraw.ImageDraw, shape: str, fill: tuple, dark: tuple, size: tuple[int, int]) -> None:
    w, h = size
    draw.rectangle([0, 0, w, h], fill=fill)
    if shape == "Stripes":
        for y in range(0, h, max(2, h // 8)):
            draw.rectangle(_box((0, y / h, 1, y / h + 1 / 16), size), fill=(*(min(255, c + 40) for c in fill[:3]), 255))
    elif shape == "Dots":
        for i in range(1, 6):
            for j in range(1, 6):
                draw.ellipse(_box((i / 6 - 0.02, j / 6 - 0.02, i / 6 + 0.02, j / 6 + 0.02), size), fill=dark)


def _draw_body(draw: ImageDraw.ImageDraw, shape: str, fill: tuple, dark: tuple, size: tuple[int, int]) -> None:
    head = {
        "Round Head": (0.28, 0.2, 0.72, 0.72),
        "Square Head": (0.27, 0.24, 0.73, 0.7),
        "Tall Head": (0.32, 0.14, 0.68, 0.74),
    }[shape]
    draw.rectangle(_box((0.42, 0.6, 0.58, 0.86), size), fill=fill)
    if shape == "Square Head":
        draw.rectangle(_box(head, size), fill=fill)
    else:
        draw.ellipse(_box(head, size), fill=fill)


def _draw_clothing(draw: ImageDraw.ImageDraw, shape: str, fill: tuple, dark: tuple, size: tuple[int, int]) -> None:
    w, h = size
    top = {"Tee": 0.8, "Hoodie": 0.74, "Suit": 0.78, "Tank": 0.84}[shape]
    draw.polygon([(0.18 * w, h), (0.3 * w, top * h), (0.7 * w, top * h), (0.82 * w, h)], fill=fill)
    if shape == "Suit":
        draw.polygon([(0.45 * w, top * h), (0.55 * w, top * h), (0.5 * w, h)], fill=(240, 240, 240, 255))
    elif shape == "Hoodie":
        draw.rectangle(_box((0.36, 0.74, 0.64, 0.8), size), fill=dark)


def _draw_eyes(draw: ImageDraw.ImageDraw, shape: str, fill: tuple, dark: tuple, size: tuple[int, int]) -> None:
    for cx in (0.41, 0.59):
        if shape == "Round Eyes":
            draw.ellipse(_box((cx - 0.045, 0.4, cx + 0.045, 0.49), size), fill=fill)
        elif shape == "Sleepy Eyes":
            draw.rectangle(_box((cx - 0.05, 0.44, cx + 0.05, 0.47), size), fill=fill)
        elif shape == "Laser Eyes":
            draw.rectangle(_box((cx - 0.03, 0.42, cx + 0.03, 0.47), size), fill=fill)
            draw.rectangle(_box((cx + 0.03, 0.435, min(1.0, cx + 0.4), 0.455), size), fill=fill)
    if shape == "Visor":
        draw.rectangle(_box((0.33, 0.4, 0.67, 0.48), size), fill=fill)


def _draw_mouth(draw: ImageDraw.ImageDraw, shape: str, fill: tuple, dark: tuple, size: tuple[int, int]) -> None:
    if shape == "Smile":
        draw.rectangle(_box((0.42, 0.6, 0.58, 0.63), size), fill=fill)
        draw.rectangle(_box((0.4, 0.57, 0.43, 0.61), size), fill=fill)
        draw.rectangle(_box((0.57, 0.57, 0.6, 0.61), size), fill=fill)
    elif shape == "Frown":
        draw.rectangle(_box((0.42, 0.58, 0.58, 0.61), size), fill=fill)
        draw.rectangle(_box((0.4, 0.6, 0.43, 0.64), size), fill=fill)
        draw.rectangle(_box((0.57, 0.6, 0.6, 0.64), size), fill=fill)
    elif shape == "Open Mouth":
        draw.ellipse(_box((0.44, 0.56, 0.56, 0.66), size), fill=fill)
    elif shape == "Pipe":
        draw.rectangle(_box((0.45, 0.6, 0.56, 0.62), size), fill=(40, 40, 40, 255))
        draw.rectangle(_box((0.56, 0.56, 0.66, 0.64), size), fill=fill)


def _draw_headwear(draw: ImageDraw.ImageDraw, shape: str, fill: tuple, dark: tuple, size: tuple[int, int]) -> None:
    w, h = size
    if shape == "Cap":
        draw.rectangle(_box((0.27, 0.14, 0.73, 0.28), size), fill=fill)
        draw.rectangle(_box((0.6, 0.24, 0.86, 0.29), size), fill=dark)
    elif shape == "Beanie":
        draw.ellipse(_box((0.27, 0.08, 0.73, 0.36), size), fill=fill)
        draw.rectangle(_box((0.26, 0.24, 0.74, 0.3), size), fill=dark)
    elif shape == "Crown":
        draw.polygon(
            [
                (0.3 * w, 0.26 * h),
                (0.3 * w, 0.08 * h),
                (0.4 * w, 0.18 * h),
                (0.5 * w, 0.06 * h),
                (0.6 * w, 0.18 * h),
                (0.7 * w, 0.08 * h),
                (0.7 * w, 0.26 * h),
            ],
            fill=fill,
        )
    elif shape == "Headband":
        draw.rectangle(_box((0.27, 0.27, 0.73, 0.32), size), fill=fill)
    elif shape == "Mohawk":
        draw.rectangle(_box((0.45, 0.04, 0.55, 0.26), size), fill=fill)


def _draw_accessory(draw: ImageDraw.ImageDraw, shape: str, fill: tuple, dark: tuple, size: tuple[int, int]) -> None:
    if shape == "Earring":
        draw.ellipse(_box((0.24, 0.5, 0.3, 0.56), size), fill=fill)
    elif shape == "Glasses":
        draw.rectangle(_box((0.33, 0.43, 0.67, 0.45), size), fill=(20, 20, 20, 255))
        for cx in (0.41, 0.59):
            draw.rectangle(_box((cx - 0.07, 0.39, cx + 0.07, 0.5), size), fill=fill)
    elif shape == "Chain":
        draw.rectangle(_box((0.36, 0.8, 0.64, 0.84), size), fill=fill)
    elif shape == "Eye Patch":
        draw.rectangle(_box((0.3, 0.36, 0.7, 0.38), size), fill=(20, 20, 20, 255))
        draw.ellipse(_box((0.52, 0.38, 0.66, 0.5), size), fill=fill)


_DRAWERS = {kind: globals()[f"_draw_{kind}"] for kind in ("background", "body", "clothing", "eyes", "mouth", "headwear",
                                                          "accessory")}  # fmt: skip


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, shape: str, colour: tuple, size: tuple[int, int]) -> None:
    """One trait's shape of a layer, in `colour` (and a darker shade of it)."""
    _DRAWERS[kind](draw, shape, (*colour, 255), (*(c // 3 for c in colour), 255), size)


def draw_layer(style: Style, kind: str, shape: str, colour: tuple[int, int, int]) -> np.ndarray:
    """One trait value's RGBA layer at the style's canvas size (uint8, H x W x 4)."""
    if style.kind == "pixel":
        work = (style.grid, round(style.grid * style.canvas[1] / style.canvas[0]))
    else:
        work = (style.canvas[0] * 2, style.canvas[1] * 2)
    layer = Image.new("RGBA", work, (0, 0, 0, 0))
    if shape.startswith(PATTERN):
        draw_pattern(ImageDraw.Draw(layer), kind, int(shape[len(PATTERN) :]), colour, work)
    else:
        _draw_shape(ImageDraw.Draw(layer), kind, shape, colour, work)
    resample = Image.Resampling.NEAREST if style.kind == "pixel" else Image.Resampling.BOX
    return np.asarray(layer.resize(style.canvas, resample=resample))


def composite(layers: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Alpha-composite layers bottom to top.

    Returns the RGB image and the visibility map: for each pixel the 1-based index of the topmost layer
    whose alpha there is at least 128 (0 where none is).
    """
    height, width = layers[0].shape[:2]
    out = np.zeros((height, width, 3), dtype=np.float32)
    visible = np.zeros((height, width), dtype=np.uint8)
    for index, layer in enumerate(layers, start=1):
        alpha = layer[..., 3:4].astype(np.float32) / 255.0
        out = layer[..., :3].astype(np.float32) * alpha + out * (1.0 - alpha)
        visible[layer[..., 3] >= 128] = index
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), visible


def pick_style(rng: random.Random, index: int) -> Style:
    """Alternate pixel and smooth collections with different canvases, as in real releases."""
    if index % 2 == 0:
        grid = rng.choice((24, 32))
        return Style("pixel", (grid * rng.choice((15, 18, 20)),) * 2, grid)
    width = rng.choice((400, 512, 640))
    return Style("smooth", (width, rng.choice((width, width * 3 // 4))))
