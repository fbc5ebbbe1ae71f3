"""Standardise one token's media into the release's image form (paper, section 4.3).

Every input becomes an RGB PNG of width 512 (height by aspect). Animated GIF/WebP and MP4 give one frame,
picked by a seed so rebuilds agree; SVG is rasterised with resvg (a Rust renderer shipped as a wheel: no
system Cairo, no network, and it fetches nothing an SVG points to). A file that is not usable raises
`MediaError` with a short reason that the build counts.

Every decode is bounded before the work: rasters by their header's pixel count (`MAX_IMAGE_PIXELS`), frames by
`MAX_FRAMES`, SVGs by their size, a canvas of at most `width` x `MAX_ASPECT_RATIO * width`, no entity
declarations and no embedded image over the pixel bound, videos by their frame size. EXIF orientation is applied,
16-bit and float greyscale are scaled to 8 bits (not clipped), and an image more than `MAX_ASPECT_RATIO` times
taller than wide or wider than tall is refused, so every kept row decodes again within Pillow's limits.
"""

from __future__ import annotations

import base64
import binascii
import io
import random
import re
import tempfile
import warnings

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from nft1000_io.atomic import png_bytes
from nft1000_io.optional import MissingExtra, import_extra

from .report import CountedError

DEFAULT_IMAGE_WIDTH = 512  # every image is standardised to this width (height by aspect)

MAX_IMAGE_PIXELS = 64_000_000  # larger images are treated as decompression bombs
MAX_ASPECT_RATIO = 8  # longer side over shorter side; PFPs are square-ish, a 1 x 1000 strip is no token image
MAX_FRAMES = 256  # animated media: the seeded frame is chosen among the first ones
MAX_SVG_BYTES = 16 * 1024 * 1024
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False

_SVG_EXTERNAL_REF = re.compile(rb"""(?:xlink:)?href\s*=\s*["'](?!data:|#)""", re.IGNORECASE)
_SVG_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_SVG_DATA_IMAGE = re.compile(rb"""data:image/[\w.+-]+;base64,([A-Za-z0-9+/=\s]+)""", re.IGNORECASE)
_WHITE = (255, 255, 255)


class MediaError(CountedError):
    """One token's media cannot be standardised."""


def sniff_format(data: bytes) -> str:
    """The media format from the first bytes, whatever the file name says.

    Returns one of png, jpeg, gif, webp, svg, mp4, html, empty, unknown.
    """
    if not data:
        return "empty"
    head = data[:512]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "mp4"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "html"
    if b"<svg" in data[:4096].lower() and text.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")):
        return "svg"
    return "unknown"


EXTENSIONS = {"png": "png", "jpeg": "jpg", "gif": "gif", "webp": "webp", "svg": "svg", "mp4": "mp4"}


def media_extension(data: bytes) -> str | None:
    """The file extension of an image or video by its first bytes (`sniff_format`), or None where it is none
    (HTML, text, empty, unknown): what `nft1000 collect` names a fetched file by."""
    return EXTENSIONS.get(sniff_format(data))


def _frame_index(n_frames: int, frame_seed: str) -> int:
    n_frames = min(n_frames, MAX_FRAMES)
    return random.Random(frame_seed).randrange(n_frames) if n_frames > 1 else 0


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (JPEG, WebP and PNG carry one); unchanged without one."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # an unreadable EXIF block says nothing about the pixels
        return image
    return ImageOps.exif_transpose(image) if orientation in range(2, 9) else image


def check_aspect(width: int, height: int) -> None:
    """Refuse strips and banners: an image more than `MAX_ASPECT_RATIO` times longer one way than the other."""
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        raise MediaError("extreme aspect ratio", f"{width} x {height} (at most {MAX_ASPECT_RATIO}:1)")


def _open_raster(data: bytes, frame_seed: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            n_frames = getattr(image, "n_frames", 1)
            if n_frames > 1:
                image.seek(_frame_index(n_frames, frame_seed))
            image.load()
            image = _upright(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise MediaError("decompression bomb", str(err)) from None
    except Exception as err:  # Pillow's decoders fail on broken files with many exception types
        raise MediaError("corrupt image", f"{type(err).__name__}: {err}") from None
    return image


def _check_svg(data: bytes, depth: int = 0) -> None:
    """Refuse before rendering what would read outside the file or outgrow memory: external references, entity
    declarations (the billion laughs), oversized files and embedded images over the pixel bound."""
    if len(data) > MAX_SVG_BYTES:
        raise MediaError("decompression bomb", f"svg of {len(data)} bytes (at most {MAX_SVG_BYTES})")
    if _SVG_EXTERNAL_REF.search(data):
        raise MediaError("svg with external reference", "an href points outside the file")
    if _SVG_ENTITY.search(data):
        raise MediaError("svg with entity declarations", "<!ENTITY> can expand without bound")
    for match in _SVG_DATA_IMAGE.finditer(data):
        try:
            embedded = base64.b64decode(re.sub(rb"\s+", b"", match[1]))
        except (binascii.Error, ValueError):
            continue  # resvg skips an image it cannot read
        kind = sniff_format(embedded)
        if kind == "svg" and depth < 2:
            _check_svg(embedded, depth + 1)
        elif kind == "svg":
            raise MediaError("svg nested too deep", "svg images inside svg images, more than 2 levels")
        elif kind in ("png", "jpeg", "gif", "webp"):
            try:  # the header alone: Pillow refuses far larger images here, a warning says "larger than allowed"
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    Image.open(io.BytesIO(embedded))
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
                raise MediaError("decompression bomb", f"embedded image: {err}") from None
            except Exception:
                continue  # resvg skips an image it cannot read


def _rasterize_svg(data: bytes, width: int) -> Image.Image:
    import resvg_py

    _check_svg(data)
    try:
        svg = data.decode("utf-8")
        with tempfile.TemporaryDirectory() as empty_dir:  # fit into width x (MAX_ASPECT_RATIO * width): bounded
            png = resvg_py.svg_to_bytes(
                svg_string=svg, width=width, height=MAX_ASPECT_RATIO * width, resources_dir=empty_dir
            )
    except Exception as err:  # resvg raises ValueError on bad markup; decoding may fail otherwise
        raise MediaError("corrupt svg", f"{type(err).__name__}: {err}") from None
    return _open_raster(bytes(png), "")


def _decode_mp4(data: bytes, frame_seed: str) -> Image.Image:
    try:
        av = import_extra("av", "video", "reading MP4 media")
    except MissingExtra as err:
        raise MediaError("mp4 needs the video extra", str(err)) from None
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            pixels = (stream.codec_context.width or 0) * (stream.codec_context.height or 0)
            if pixels > MAX_IMAGE_PIXELS:
                raise MediaError("decompression bomb", f"video frames of {pixels} pixels")
            target = _frame_index(stream.frames or 1, frame_seed)
            for index, frame in enumerate(container.decode(stream)):
                if index >= target:
                    return frame.to_image()
    except MediaError:
        raise
    except Exception as err:  # FFmpeg errors, no video stream, broken containers
        raise MediaError("corrupt video", f"{type(err).__name__}: {err}") from None
    raise MediaError("corrupt video", "no decodable frame")


def decode_media(data: bytes, *, frame_seed: str = "", svg_width: int = DEFAULT_IMAGE_WIDTH) -> tuple[Image.Image, str]:
    """Decode any supported media into a Pillow image (one frame); returns (image, sniffed format)."""
    kind = sniff_format(data)
    if kind in ("png", "jpeg", "gif", "webp"):
        return _open_raster(data, frame_seed), kind
    if kind == "svg":
        return _rasterize_svg(data, svg_width), kind
    if kind == "mp4":
        return _decode_mp4(data, frame_seed), kind
    if kind == "empty":
        raise MediaError("empty file")
    if kind == "html":
        raise MediaError("html page instead of media")
    raise MediaError("unknown media format", repr(data[:16]))


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greyscale scaled into 0-255 (Pillow's own conversion clips them to white)."""
    values = np.asarray(image).astype(np.float64)
    top = float(values.max(initial=0.0))
    if image.mode == "F":
        scale = 1.0 if top <= 1.0 else 255.0
    elif image.mode.startswith("I;16") or 255 < top <= 65535:
        scale = 65535.0
    else:
        scale = 255.0 if top <= 255 else top
    return Image.fromarray(np.clip(np.rint(values * (255.0 / scale)), 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency over white and drop alpha; palette and grey images (8-bit, 16-bit, float) become RGB."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _to_8bit_grey(image).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, _WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def resize_to_width(image: Image.Image, width: int) -> Image.Image:
    """Width `width`, height by aspect. Upscaling keeps pixel art crisp (NEAREST); downscaling is LANCZOS."""
    if image.width == width:
        return image
    height = max(1, round(image.height * width / image.width))
    resample = Image.Resampling.NEAREST if image.width < width else Image.Resampling.LANCZOS
    return image.resize((width, height), resample=resample, reducing_gap=3.0)


def standardize_image(data: bytes, *, width: int = DEFAULT_IMAGE_WIDTH, frame_seed: str = "") -> bytes:
    """Media bytes in, RGB PNG bytes of the given width out.

    An input that already is an RGB PNG of that width (with no EXIF block that could turn it) is fully decoded (to
    catch truncation) and then kept byte for byte, which makes rebuilding from the standardised release cheap.
    """
    image, kind = decode_media(data, frame_seed=frame_seed, svg_width=width)
    check_aspect(image.width, image.height)
    if kind == "png" and image.mode == "RGB" and image.width == width and "exif" not in image.info:
        return data
    return png_bytes(resize_to_width(to_rgb(image), width))
