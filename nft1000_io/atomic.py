"""Atomic file writes: a reader sees the old file or the whole new one, never a part. The file gets the mode
``open()`` would give it (0666 less the user's umask), not the 0600 of a temporary file; `share_weights` gives
the same mode to the weights that libraries write themselves (safetensors writes 0600)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (other threads may be creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere reading the umask means setting it; set it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~current_umask())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def png_bytes(image) -> bytes:
    """The one PNG encoder: a PIL image, a uint8 array (H x W, H x W x 3 or 4) or a Matplotlib figure."""
    buffer = io.BytesIO()
    if hasattr(image, "savefig"):
        image.savefig(buffer, format="png")
        return buffer.getvalue()
    if not hasattr(image, "save"):
        from PIL import Image

        image = Image.fromarray(image)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def atomic_write_png(path: str | Path, image) -> None:
    """A PIL image, a uint8 array or a Matplotlib figure saved as PNG, atomically."""
    atomic_write_bytes(path, png_bytes(image))


def share_weights(folder: str | Path) -> None:
    """Every ``*.safetensors`` file under `folder` (``save_pretrained``, ``save_state``, LoRA weights) gets the mode
    ``open()`` would give it: safetensors writes its files 0600 whatever the umask."""
    mode = 0o666 & ~current_umask()
    for path in Path(folder).rglob("*.safetensors"):
        os.chmod(path, mode)
