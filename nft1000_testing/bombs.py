"""Bombs at full size, and what one costs `nft1000 build`: the same release built with and without it.

Each bomb writes one more collection (or token) beside a small good collection. `build_cost` runs the build in its
own process and reads that process's own wall time and peak memory, so a bomb's cost is its build's less the
good release's, measured on the same machine in the same run (`tests/test_bombs.py`, `benchmarks/bomb_cost.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nft1000_dataset.attributes import OVER_MAX_ATTRIBUTES
from nft1000_dataset.captions import CAPTION_BOUND

from .hostile import FolderWriter, metadata, write_declared_zip, write_overlap_zip

GOOD = "Good Cats"
GOOD_TOKENS = 12
MIN_TOKENS = 5


def overlapping_kernel(size: int = 170 * 2**20, every: int = 600, seed: int = 0) -> bytes:
    """Zeros with a random byte every `every` bytes: DEFLATE shrinks it about 175 times, under the per-member
    ratio bound (200), as the bomb of the issue that found it was (20 members of 170 MB from a 0.92 MB file)."""
    data = np.zeros(size, np.uint8)
    data[::every] = np.random.default_rng(seed).integers(1, 256, len(data[::every]))
    return data.tobytes()


def _overlap(release: Path) -> None:
    write_overlap_zip(release / "Overlap.zip", "Overlap", range(1, 13), range(100, 120), overlapping_kernel())


def _declared(release: Path) -> None:
    write_declared_zip(release / "Declared.zip", "Declared", 1000, 8 * 2**20)  # 8 GB declared from about 8 MB


def _token(release: Path, meta: dict | None = None, caption: bytes | None = None) -> None:
    writer = FolderWriter(release / GOOD, release.parent / "outside")
    writer.token("999", meta=meta or metadata("999"))
    if caption is not None:
        writer.put(f"captions/{writer.stem('999')}.txt", caption)


# each bomb, and the count it must leave in the build report (a drop, skip or note label), or None where the input
# is legitimate and only its cost is bounded
BOMBS: dict[str, tuple[Callable[[Path], None], str | None]] = {
    "zip of 20 images in one DEFLATE stream (3.4 GB declared, 0.9 MB)": (_overlap, "overlapping zip member"),
    "zip of 1,000 members of 8 MB zeros (8 GB declared, 8 MB)": (_declared, "Declared"),
    "token with 50,000 attributes": (
        lambda release: _token(
            release, {"attributes": [{"trait_type": f"T{i}", "value": f"v{i}"} for i in range(50_000)]}
        ),
        OVER_MAX_ATTRIBUTES,
    ),
    "token with 100 attributes of 500 characters": (
        lambda release: _token(release, metadata("999", **{f"Trait {i}": f"{i}" + "y" * 499 for i in range(100)})),
        CAPTION_BOUND,
    ),
    "token with a caption of 15 MiB": (
        lambda release: _token(release, caption=b"words " * (15 * 2**20 // 6)),
        "release caption left out: file too large",
    ),
    "token with metadata of 15 MiB (an inline image)": (
        lambda release: _token(release, {**metadata("999"), "image": "data:image/svg+xml;base64," + "A" * 15 * 2**20}),
        None,
    ),
}


def good_release(root: Path) -> Path:
    """``root/release`` with one folder collection of `GOOD_TOKENS` good tokens."""
    writer = FolderWriter(root / "release" / GOOD, root / "outside")
    for token_id in range(1, GOOD_TOKENS + 1):
        writer.token(str(token_id))
    return root / "release"


# Run from a small process: Linux keeps a process's peak across exec, so a child forked from a large test process
# would report that process's size as its own.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.monotonic()
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": time.monotonic() - start, "peak": usage.ru_maxrss * 1024,
               "returncode": os.waitstatus_to_exitcode(status)}, out)
"""


def build_cost(release: Path, out: Path) -> tuple[float, int, subprocess.CompletedProcess]:
    """(seconds, peak resident bytes, the finished process with its output) of `nft1000 build` of `release` into
    `out`, measured on the build's own process (``wait4`` in a small launcher)."""
    command = [sys.executable, "-m", "nft1000.cli", "build", "--raw", str(release), "--out", str(out),
               "--config", "full", "--min-tokens", str(MIN_TOKENS), "--split-ratios", "1", "0", "0"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as folder:
        measured = Path(folder) / "cost.json"
        launch = [sys.executable, "-c", _LAUNCHER, str(measured), *command]
        output = subprocess.run(launch, env=env, capture_output=True, text=True)
        cost = json.loads(measured.read_text())
    result = subprocess.CompletedProcess(command, cost["returncode"], output.stdout + output.stderr)
    return cost["seconds"], cost["peak"], result
