"""Planted faults for tests: broken files, other media formats, and collections the filters must drop.

Each fault is listed in ``ground_truth/faults.json`` with what the build must do with it: ``"kept"`` (a
format that is converted) or the reason it is counted under.
"""

from __future__ import annotations

import importlib.util
import io
import json

import numpy as np
from PIL import Image

from nft1000_io.atomic import png_bytes

# fault -> what the build must report for that token
TOKEN_FAULTS = {
    "truncated png": "corrupt image",
    "zero-byte image": "empty file",
    "html saved as png": "html page instead of media",
    "missing metadata": "missing metadata",
    "malformed metadata json": "malformed metadata JSON",
    "empty attribute list": "no attributes",
    "missing image": "missing image",
    "animated gif": "kept",
    "animated webp": "kept",
    "jpeg": "kept",
    "svg": "kept",
    "mp4": "kept",
}
TINY_TOKENS = 5


def fault_plan(n_tokens: int) -> dict[int, str]:
    """Token number -> fault, spread over the first collection."""
    faults = [f for f in TOKEN_FAULTS if f != "mp4" or importlib.util.find_spec("av") is not None]
    if n_tokens < 2 * len(faults) + 1:
        raise ValueError(f"--faults needs at least {2 * len(faults) + 1} tokens per collection")
    return {1 + 2 * i: fault for i, fault in enumerate(faults)}


def _frames_bytes(rgb: np.ndarray, fmt: str) -> bytes:
    first = Image.fromarray(rgb)
    second = Image.fromarray(255 - rgb)
    buffer = io.BytesIO()
    first.save(buffer, format=fmt, save_all=True, append_images=[second], duration=200, loop=0)
    return buffer.getvalue()


def _mp4_bytes(rgb: np.ndarray) -> bytes:
    import av

    height, width = (d - d % 2 for d in rgb.shape[:2])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _svg_bytes(rgb: np.ndarray) -> bytes:
    height, width = rgb.shape[:2]
    r, g, b = (int(c) for c in rgb[0, 0])
    return (
        f'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<rect width="100%" height="100%" fill="rgb({r},{g},{b})"/>'
        f'<circle cx="{width // 2}" cy="{height // 2}" r="{width // 4}" fill="#d4af37"/></svg>'
    ).encode()


def apply_token_fault(fault: str, stem: str, rgb: np.ndarray, files: dict[str, bytes]) -> dict[str, bytes]:
    """The token's files with `fault` planted."""
    files = dict(files)
    image, meta = f"images/{stem}.png", f"metadata/{stem}.json"
    converted = {
        "animated gif": ("gif", lambda: _frames_bytes(rgb, "GIF")),
        "animated webp": ("webp", lambda: _frames_bytes(rgb, "WEBP")),
        "jpeg": ("jpg", lambda: _jpeg_bytes(rgb)),
        "svg": ("svg", lambda: _svg_bytes(rgb)),
        "mp4": ("mp4", lambda: _mp4_bytes(rgb)),
    }
    if fault in converted:
        extension, make = converted[fault]
        del files[image]
        files[f"images/{stem}.{extension}"] = make()
    elif fault == "truncated png":
        files[image] = files[image][: len(files[image]) // 2]
    elif fault == "zero-byte image":
        files[image] = b""
    elif fault == "html saved as png":
        files[image] = b"<!DOCTYPE html><html><body><h1>504 Gateway Time-out</h1></body></html>"
    elif fault == "missing metadata":
        del files[meta]
    elif fault == "missing image":
        del files[image]
    elif fault == "malformed metadata json":
        files[meta] = b'{"name": "broken", "attributes": [{"trait_type": "Eyes", '
    elif fault == "empty attribute list":
        files[meta] = json.dumps({"name": stem, "attributes": []}).encode()
    elif fault == "same cover":
        files[image] = _cover()
    elif fault == "no attributes":
        files[meta] = json.dumps({"name": stem, "description": "Unrevealed"}).encode()
    else:
        raise ValueError(f"unknown fault {fault!r}")
    return files


def _jpeg_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _cover() -> bytes:
    return png_bytes(Image.new("RGB", (256, 256), (90, 90, 90)))
