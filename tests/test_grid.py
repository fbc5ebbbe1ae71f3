"""The working grid: pixel art's own grid found from upscaled, resampled and JPEG images; none in smooth art."""

import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from modeling.separation.grid import WorkingGrid, block_grid, detect_grid, nearest_source


def pixel_art(cells: int, seed: int, count: int = 12) -> list[np.ndarray]:
    """`count` images of `cells` x `cells` flat-coloured pixels: a background, a head, random features."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        art = np.empty((cells, cells, 3), dtype=np.uint8)
        art[:] = rng.integers(0, 256, 3)
        for _ in range(6):
            y, x = rng.integers(0, cells - 2, 2)
            h, w = rng.integers(1, max(2, cells // 3), 2)
            art[y : y + h, x : x + w] = rng.integers(0, 256, 3)
        images.append(art)
    return images


def upscaled(art: np.ndarray, width: int, resample=Image.Resampling.NEAREST) -> np.ndarray:
    return np.asarray(Image.fromarray(art).resize((width, width), resample))


@settings(max_examples=25, deadline=None)
@given(cells=st.integers(8, 48), scale=st.floats(6.2, 12.0), seed=st.integers(0, 2**16))
def test_the_native_grid_of_upscaled_pixel_art_is_found_and_reproduces_it(cells, scale, seed):
    art = pixel_art(cells, seed)
    width = round(cells * scale)
    images = [upscaled(a, width) for a in art]
    grid = detect_grid(images)
    assert grid is not None and grid.native and grid.cells == (cells, cells)
    for original, image in zip(art, images, strict=True):
        assert np.array_equal(grid.sample(image), original)  # one colour per cell, exactly
        assert np.array_equal(grid.upsample(original), image)  # and back: NEAREST's own pixels


def test_the_grid_survives_a_lanczos_resample_and_jpeg():
    art = pixel_art(24, seed=3)
    for quality in (None, 90):
        images = []
        for a in art:
            image = Image.fromarray(upscaled(a, 480)).resize((409, 409), Image.Resampling.LANCZOS)
            if quality:
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=quality)
                image = Image.open(buffer)
            images.append(np.asarray(image.convert("RGB").resize((512, 512), Image.Resampling.NEAREST)))
        grid = detect_grid(images)
        assert grid is not None and grid.cells == (24, 24)
        worst = max(
            int(np.abs(grid.sample(i).astype(int) - a.astype(int)).max()) for i, a in zip(images, art, strict=True)
        )
        assert worst <= (2 if quality is None else 12), worst  # cell centres stay near the drawn colour


def test_smooth_art_has_no_grid_and_gets_blocks():
    rng = np.random.default_rng(0)
    images = []
    for _ in range(12):
        canvas = Image.new("RGB", (1024, 1024), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(8):
            x, y = rng.uniform(0, 900, 2)
            draw.ellipse(
                [x, y, x + rng.uniform(40, 300), y + rng.uniform(40, 300)], fill=tuple(rng.integers(0, 256, 3))
            )
        images.append(np.asarray(canvas.resize((512, 512), Image.Resampling.BOX)))  # anti-aliased edges
    assert detect_grid(images) is None
    blocks = block_grid((512, 384), 8192)
    assert not blocks.native and blocks.pixels <= 8192 and blocks.cells == (512 // 5, 384 // 5)  # 5-px blocks
    assert block_grid((48, 48), 8192).cells == (48, 48)  # small images are worked on as they are


def test_nearest_source_is_pillows_own_mapping():
    rng = np.random.default_rng(1)
    for size, new_size in ((512, 224), (384, 298), (512, 336), (24, 512), (300, 382)):
        line = rng.integers(0, 256, (1, size, 3), dtype=np.uint8)
        resized = np.asarray(Image.fromarray(line).resize((new_size, 1), Image.Resampling.NEAREST))
        assert np.array_equal(line[0, nearest_source(size, new_size)], resized[0])


def test_cell_centres_read_back_an_upsampled_array():
    grid = WorkingGrid((512, 384), (40, 30), native=True)
    cells = np.random.default_rng(2).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    assert np.array_equal(grid.centres(grid.upsample(cells)), cells)
