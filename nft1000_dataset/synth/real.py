"""The real-like mode of the synthetic generator: NFT1000's shape rather than an easy toy.

Real PFP collections carry 100 to 500 trait values, one trait type often with 150+ values of a handful of
carriers each, palettes with near colours (values of one trait type a few levels apart), and images that
someone resampled or saved as JPEG. A real-like collection has about 450 values (headwear alone 200), each
drawn procedurally from its own seed (a unique shape per value), colours of which about a third are near
variants (3 to 12 levels apart in one or two channels) of another value's of the same trait type, including
backgrounds that differ only by such a shift. ``variant`` is what happens to every image after compositing:
``clean`` (lossless), ``resampled`` (LANCZOS to a non-integer scale) or ``jpeg`` (resampled, then JPEG at
quality 90). Ground truth (layers, visibility) stays at the canvas size, as in the easy mode.

Non-layered collections (``non_layered_spec``) are what NFT1000 also holds, 3D renders and generative art:
every image is its own smooth noise field or gradient, and the attributes describe nothing visible.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from nft1000_io.atomic import png_bytes

VARIANTS = ("clean", "resampled", "jpeg")
PATTERN = "pattern:"  # the shape of a procedurally drawn value: "pattern:<seed>"
JPEG_QUALITY = 90
# values per trait type (about 450 in all): one trait type with 200 values of a few carriers each
VALUE_COUNTS = {
    "background": 24,
    "body": 16,
    "clothing": 60,
    "eyes": 50,
    "mouth": 40,
    "headwear": 200,
    "accessory": 60,
}
NEAR_SHARE = 0.35  # of a trait type's values whose colour is a near variant of another value's
NOUNS = {
    "background": ("Sky", "Wall", "Haze", "Field", "Backdrop"),
    "body": ("Skin", "Hide", "Fur", "Shell"),
    "clothing": ("Tee", "Hoodie", "Jacket", "Vest", "Robe", "Kimono", "Sweater", "Overalls"),
    "eyes": ("Eyes", "Shades", "Goggles", "Stare", "Lenses"),
    "mouth": ("Grin", "Smirk", "Pipe", "Fangs", "Lips", "Frown"),
    "headwear": ("Cap", "Beanie", "Beret", "Crown", "Bandana", "Helmet", "Hat", "Hood", "Halo", "Bucket Hat"),
    "accessory": ("Earring", "Chain", "Patch", "Mask", "Scar", "Tattoo", "Badge"),
}
TONES = ("Dusty", "Deep", "Pale", "Bright", "Muted", "Neon", "Faded", "Rich", "Soft", "Burnt", "Cool", "Warm")
HUES = ("Red", "Orange", "Amber", "Yellow", "Lime", "Green", "Teal", "Cyan", "Azure", "Blue", "Indigo", "Violet")


@dataclass(frozen=True)
class PaletteEntry:
    name: str
    colour: tuple[int, int, int]


def _hue_name(colour: tuple[int, int, int]) -> str:
    hue, _, _ = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
    return HUES[int(hue * len(HUES)) % len(HUES)]


def near_variant(colour: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    """A colour 3 to 12 levels from `colour` in one or two channels (what real palettes hold)."""
    shifted = list(colour)
    for channel in rng.sample(range(3), rng.choice((1, 2))):
        step = rng.randint(3, 12) * rng.choice((-1, 1))
        if not 0 <= shifted[channel] + step <= 255:
            step = -step
        shifted[channel] += step
    return (shifted[0], shifted[1], shifted[2])


def trait_palette(kind: str, count: int, rng: random.Random) -> list[PaletteEntry]:
    """`count` distinct colours with names, about `NEAR_SHARE` of them near variants of an earlier one."""
    entries: list[PaletteEntry] = []
    taken: set[tuple[int, int, int]] = set()
    names: set[str] = set()
    while len(entries) < count:
        if entries and rng.random() < NEAR_SHARE:
            base = rng.choice(entries)
            colour = near_variant(base.colour, rng)
        else:
            hue, saturation = rng.random(), rng.uniform(0.25, 0.9)
            value = rng.uniform(0.55, 0.95) if kind == "body" else rng.uniform(0.3, 0.95)
            colour = tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, saturation, value))  # type: ignore[assignment]
        if colour in taken:
            continue
        noun = rng.choice(NOUNS[kind])
        name = f"{rng.choice(TONES)} {_hue_name(colour)} {noun}"
        number = 2
        while name in names:
            name = f"{rng.choice(TONES)} {_hue_name(colour)} {noun} {number}"
            number += 1
        taken.add(colour)
        names.add(name)
        entries.append(PaletteEntry(name, colour))
    return entries


def _darker(colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    return (colour[0] // 3, colour[1] // 3, colour[2] // 3, 255)


def _rect(rng: random.Random, x: tuple[float, float], y: tuple[float, float], w: tuple[float, float],
          h: tuple[float, float]) -> tuple[float, float, float, float]:  # fmt: skip
    """A random box (fractions of the canvas): its centre in the x and y ranges, its size in the w and h ranges."""
    cx, cy, bw, bh = rng.uniform(*x), rng.uniform(*y), rng.uniform(*w), rng.uniform(*h)
    return (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)


def _scaled(box: tuple[float, float, float, float], size: tuple[int, int]) -> list[float]:
    return [box[0] * size[0], box[1] * size[1], box[2] * size[0], box[3] * size[1]]


def draw_pattern(draw: ImageDraw.ImageDraw, kind: str, seed: int, colour: tuple[int, int, int],
                 size: tuple[int, int]) -> None:  # fmt: skip
    """One value's procedural shape: where its trait type goes on a face, sized and placed from its seed."""
    rng = random.Random(seed)
    fill, trim = (*colour, 255), _darker(colour)

    def shape(box, paint=fill):
        (draw.ellipse if rng.random() < 0.4 else draw.rectangle)(_scaled(box, size), fill=paint)

    if kind == "background":
        draw.rectangle([0, 0, *size], fill=fill)
        extra = rng.choice(("plain",) * 5 + ("stripes", "frame"))
        if extra == "stripes":
            for y in np.arange(rng.uniform(0, 0.1), 1, rng.choice((0.125, 0.25))):
                draw.rectangle(_scaled((0, y, 1, y + 1 / 24), size), fill=trim)
        elif extra == "frame":
            draw.rectangle(_scaled((0, 0, 1, 1), size), outline=trim, width=max(1, size[0] // 24))
    elif kind == "body":
        shape(_rect(rng, (0.48, 0.52), (0.44, 0.48), (0.4, 0.5), (0.48, 0.58)))
        draw.rectangle(_scaled(_rect(rng, (0.5, 0.5), (0.78, 0.8), (0.14, 0.2), (0.24, 0.3)), size), fill=fill)
    elif kind == "clothing":
        top = rng.uniform(0.74, 0.86)
        spread = rng.uniform(0.1, 0.2)
        width, height = size
        draw.polygon(
            [(spread * width, height), ((0.5 - 0.2) * width, top * height), ((0.5 + 0.2) * width, top * height),
             ((1 - spread) * width, height)], fill=fill)  # fmt: skip
        if rng.random() < 0.6:
            shape(_rect(rng, (0.4, 0.6), (top + 0.05, 0.95), (0.06, 0.2), (0.04, 0.12)), trim)
    elif kind == "eyes":
        w, h, dy = rng.uniform(0.05, 0.1), rng.uniform(0.03, 0.08), rng.uniform(-0.03, 0.03)
        for cx in (0.4, 0.6):
            shape((cx - w / 2, 0.44 + dy - h / 2, cx + w / 2, 0.44 + dy + h / 2))
        if rng.random() < 0.5:
            pupil = min(w, h) / 2
            for cx in (0.4, 0.6):
                draw.rectangle(_scaled((cx, 0.44 + dy - pupil / 2, cx + pupil, 0.44 + dy + pupil / 2), size), fill=trim)
        if rng.random() < 0.25:
            draw.rectangle(_scaled((0.4, 0.44 + dy - 0.01, 0.6, 0.44 + dy + 0.01), size), fill=fill)
    elif kind == "mouth":
        shape(_rect(rng, (0.46, 0.54), (0.6, 0.64), (0.08, 0.2), (0.02, 0.06)))
        if rng.random() < 0.3:
            shape(_rect(rng, (0.6, 0.7), (0.58, 0.64), (0.06, 0.14), (0.03, 0.06)), trim)
    elif kind == "headwear":
        for _ in range(rng.randint(1, 3)):
            shape(_rect(rng, (0.4, 0.6), (0.1, 0.24), (0.2, 0.5), (0.06, 0.2)))
        if rng.random() < 0.6:
            draw.rectangle(_scaled(_rect(rng, (0.45, 0.6), (0.24, 0.28), (0.3, 0.6), (0.03, 0.06)), size), fill=trim)
    elif kind == "accessory":
        anchor = rng.choice(((0.25, 0.52), (0.5, 0.84), (0.64, 0.56), (0.36, 0.34), (0.75, 0.3)))
        shape(_rect(rng, (anchor[0] - 0.03, anchor[0] + 0.03), (anchor[1] - 0.03, anchor[1] + 0.03),
                    (0.04, 0.14), (0.03, 0.1)))  # fmt: skip
        if rng.random() < 0.4:
            shape(_rect(rng, (anchor[0] - 0.05, anchor[0] + 0.05), (anchor[1] - 0.05, anchor[1] + 0.05),
                        (0.02, 0.05), (0.02, 0.05)), trim)  # fmt: skip
    else:
        raise ValueError(f"unknown layer kind {kind!r}")


def pattern_seeds(colours: list[tuple[int, int, int]], rng: random.Random, render) -> list[int]:
    """A pattern seed per colour such that no two rendered layers (`render(seed, colour)` -> bytes) are equal:
    no two values look alike in shape and colour both (a coarse pixel grid makes equal shapes likely, and plain
    backgrounds differ by colour alone)."""
    seeds, seen = [], set()
    for colour in colours:
        while True:
            seed = rng.randrange(2**31)
            digest = hashlib.blake2b(render(seed, colour), digest_size=16).digest()
            if digest not in seen:
                break
        seen.add(digest)
        seeds.append(seed)
    return seeds


def vary_image(rgb: np.ndarray, variant: str, scale: float) -> bytes:
    """The image bytes a release holds after `variant` (module docstring); `scale` is the LANCZOS factor."""
    image = Image.fromarray(rgb)
    if variant != "clean":
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    if variant != "jpeg":
        return png_bytes(image)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def non_layered_image(token_seed: int, size: tuple[int, int], kind: str) -> np.ndarray:
    """A token of a collection that is not layered: a smooth noise field or a gradient of its own colours."""
    rng = np.random.default_rng(token_seed)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "gradient":
        start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        angle = rng.uniform(0, 2 * np.pi)
        t = (np.cos(angle) * xs / width + np.sin(angle) * ys / height + 1) / 2
        field = start[None, None] + (end - start)[None, None] * t[..., None]
    else:  # a smooth noise field: coarse random colours, upscaled bicubically
        coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    field = field + rng.normal(0, 6, field.shape)
    return np.clip(np.rint(field), 0, 255).astype(np.uint8)
