import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nft1000_dataset.media import MediaError, sniff_format, standardize_image
from nft1000_dataset.synth.faults import _frames_bytes, _mp4_bytes, _svg_bytes


def _image(width=300, height=200, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


SAMPLES = [_encode(_image(40, 30), fmt) for fmt in ("PNG", "JPEG", "WEBP", "GIF")] + [
    _svg_bytes(_image(40, 30)),
    _frames_bytes(_image(40, 30), "GIF"),
]


def _open(png: bytes) -> Image.Image:
    assert sniff_format(png) == "png"
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_raster_formats_become_rgb_png_of_width_512_with_aspect_kept(fmt):
    image = _open(standardize_image(_encode(_image(300, 200), fmt)))
    assert image.mode == "RGB" and image.size == (512, 341)


def test_transparent_png_is_flattened_over_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    image = _open(standardize_image(_encode(rgba, "PNG")))
    assert np.asarray(image).min() == 255


def test_pixel_art_upscaling_keeps_pixels_crisp():
    small = np.kron(np.eye(2, dtype=np.uint8) * 255, np.ones((8, 8), dtype=np.uint8))
    tile = np.stack([small] * 3, axis=-1)
    image = np.asarray(_open(standardize_image(_encode(tile, "PNG"))))
    assert set(np.unique(image)) <= {0, 255}


def test_an_rgb_png_already_512_wide_is_kept_byte_for_byte():
    data = _encode(_image(512, 300), "PNG")
    assert standardize_image(data) == data


def test_animated_media_give_one_seeded_frame():
    rgb = _image(64, 64)
    for data in (_frames_bytes(rgb, "GIF"), _frames_bytes(rgb, "WEBP")):
        frames = {standardize_image(data, frame_seed=f"seed{i}") for i in range(12)}
        assert len(frames) == 2  # both frames are reachable, each seed picks one
        assert standardize_image(data, frame_seed="x") == standardize_image(data, frame_seed="x")


def test_svg_is_rasterised_and_external_references_are_refused():
    image = _open(standardize_image(_svg_bytes(_image(100, 50))))
    assert image.size == (512, 256)
    hostile = b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>'
    with pytest.raises(MediaError) as err:
        standardize_image(hostile)
    assert err.value.reason == "svg with external reference"


def test_mp4_gives_one_frame():
    image = _open(standardize_image(_mp4_bytes(_image(64, 48)), frame_seed="a"))
    assert image.size == (512, 384)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"<!DOCTYPE html><html><body>502</body></html>", "html page instead of media"),
        (b"\x00\x01garbage", "unknown media format"),
        (_encode(_image(), "PNG")[:300], "corrupt image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><rect", "corrupt svg"),
    ],
)
def test_unusable_media_name_the_reason(data, reason):
    with pytest.raises(MediaError) as err:
        standardize_image(data)
    assert err.value.reason == reason


def test_decompression_bombs_are_refused():
    huge = Image.new("1", (20000, 20000))  # 400 Mpx, a few KB as PNG
    buffer = io.BytesIO()
    huge.save(buffer, format="PNG")
    with pytest.raises(MediaError) as err:
        standardize_image(buffer.getvalue())
    assert err.value.reason == "decompression bomb"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048) | st.builds(lambda b, cut: b[:cut], st.sampled_from(SAMPLES), st.integers(0, 4000)))
def test_any_bytes_give_a_png_or_a_counted_reason(data):
    try:
        png = standardize_image(data)
    except MediaError as err:
        assert err.reason
    else:
        assert sniff_format(png) == "png"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xef\xbb\xbf<svg", "svg"),
        (b"<!-- made by hand --><svg", "svg"),
        (b"<?xml version='1.0'?>\n<svg", "svg"),
        (b"<!DOCTYPE html><html", "html"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"GIF89a", "gif"),
    ],
)
def test_the_build_and_the_collector_sniff_media_alike(head, kind):
    """One sniffer: `nft1000 collect` names a fetched file by what `nft1000 build` reads it as (an SVG with a BOM or
    a leading comment was refused by the collector's own sniffer and read by the build's)."""
    from nft1000_dataset.media import EXTENSIONS, media_extension

    data = head + b' xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>' if kind == "svg" else head
    assert sniff_format(data) == kind
    assert media_extension(data) == EXTENSIONS.get(kind)
