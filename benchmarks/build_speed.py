"""Build speed: pairs/s of `export_release` with 1 and 2 processes next to the bare Pillow cost.

The bare cost is what any build must pay per image: decode + resize to 512 px wide + PNG encode, written
here with Pillow alone, on the same image files, in the same run. Goals (issue 2): the build runs at
>= 0.8x the bare rate per process, and 2 processes give >= 1.7x one.

    python benchmarks/build_speed.py [--collections 4] [--tokens 150] [--repeats 2]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from nft1000_dataset.export import export_release
from nft1000_dataset.plan import BuildOptions
from nft1000_dataset.synth import synthesize

WIDTH = 512


def bare_pillow(path: str) -> int:
    """Decode, resize to 512 px wide (NEAREST up, LANCZOS down, as the release does) and encode as PNG."""
    image = Image.open(path).convert("RGB")
    height = round(image.height * WIDTH / image.width)
    resample = Image.Resampling.NEAREST if image.width < WIDTH else Image.Resampling.LANCZOS
    buffer = io.BytesIO()
    image.resize((WIDTH, height), resample=resample, reducing_gap=3.0).save(buffer, format="PNG")
    return len(buffer.getvalue())


def time_bare(paths: list[str], processes: int) -> float:
    start = time.perf_counter()
    if processes == 1:
        for path in paths:
            bare_pillow(path)
    else:
        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(bare_pillow, paths, chunksize=16))
    return time.perf_counter() - start


def time_build(release: Path, processes: int, scratch: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=scratch))
    options = {"full": BuildOptions(rows_per_shard=50)}
    start = time.perf_counter()
    export_release(release, out, options, min_tokens=1, num_proc=processes)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic collections")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    os.environ["TQDM_DISABLE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        synthesize(scratch / "synth", args.collections, args.tokens, seed=args.seed, num_proc=2)
        release = scratch / "synth" / "release"
        paths = sorted(str(p) for p in release.glob("*/images/*.png"))
        sizes = sorted({Image.open(p).size for p in paths})
        n = len(paths)
        rows = []
        for label, run in (
            ("bare Pillow", lambda k: time_bare(paths, k)),
            ("nft1000 build", lambda k: time_build(release, k, scratch)),
        ):
            for processes in (1, 2):
                seconds = min(run(processes) for _ in range(args.repeats))
                rows.append((label, processes, seconds))
    bare1 = next(s for label, k, s in rows if label == "bare Pillow" and k == 1)
    build1 = next(s for label, k, s in rows if label == "nft1000 build" and k == 1)
    print(f"{n} images, canvases {sizes}, {os.cpu_count()} CPUs, best of {args.repeats}\n")
    print("| method | processes | seconds | pairs/s | vs bare Pillow, 1 process | vs same method, 1 process |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, processes, seconds in rows:
        same1 = bare1 if label == "bare Pillow" else build1
        print(
            f"| {label} | {processes} | {seconds:.2f} | {n / seconds:.0f} | {bare1 / seconds:.2f}x | "
            f"{same1 / seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()
