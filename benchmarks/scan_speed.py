"""Scan speed: tokens/s of the build's first pass (listing every file, reading every token's metadata) next to
the floor any scan pays, reading and parsing the same metadata files with plain Python, in the same run.

The scan is where the release's sandbox costs (each file's type and link target checked, ids normalised, one
file chosen per token and part), since it touches every file and decodes no image. The release is written with
tiny files (a 1-pixel PNG, a short JSON, a caption) so that many tokens fit on a laptop's disk in seconds.

    python benchmarks/scan_speed.py [--collections 20] [--tokens 5000] [--zip] [--repeats 3]
    python benchmarks/scan_speed.py --code <other checkout> ...   # the same measure of other code

(``PYTHONPATH`` alone would not measure other code: the editable install's import finder comes first. The table's
header says where the code came from.)
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image


def write_release(root: Path, collections: int, tokens: int, as_zip: bool) -> list[Path]:
    """Tiny tokens in the release layout; returns every metadata file (or, for zips, the zips)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    image = buffer.getvalue()
    written = []
    for c in range(collections):
        name = f"Scan {c}"
        files = {}
        for t in range(tokens):
            stem = f"{name}_{t}"
            traits = [{"trait_type": "Eyes", "value": f"E{t % 17}"}, {"trait_type": "Hat", "value": f"H{t % 31}"}]
            files[f"images/{stem}.png"] = image if t else image + b"\0"  # not all identical
            files[f"metadata/{stem}.json"] = json.dumps({"name": stem, "attributes": traits}).encode()
            files[f"captions/{stem}.txt"] = f"A {name} token".encode()
        if as_zip:
            with zipfile.ZipFile(root / f"{name}.zip", "w", zipfile.ZIP_STORED) as archive:
                for relative, data in files.items():
                    archive.writestr(f"{name}/{relative}", data)
            written.append(root / f"{name}.zip")
            continue
        for relative, data in files.items():
            path = root / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if relative.startswith("metadata/"):
                written.append(path)
    return written


def floor(files: list[Path]) -> int:
    """Read and parse every metadata file with plain Python: what any scan pays."""
    parsed = 0
    for path in files:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if "/metadata/" in info.filename:
                        json.loads(archive.read(info))
                        parsed += 1
        else:
            json.loads(path.read_bytes())
            parsed += 1
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--zip", action="store_true", help="one zip per collection, as the real release")
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings")
    parser.add_argument("--code", type=Path, help="measure the nft1000_dataset of this checkout instead")
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"  # before tqdm is imported: it reads its TQDM_ variables then
    if args.code:  # ahead of the editable install, whose import finder would otherwise win
        sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
        sys.path.insert(0, str(args.code.resolve()))
    package = importlib.import_module("nft1000_dataset")
    discover_collections = importlib.import_module("nft1000_dataset.release").discover_collections
    scan_collections = importlib.import_module("nft1000_dataset.scan").scan_collections
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_release(root, args.collections, args.tokens, args.zip)
        timings = {}
        for label, run in (
            ("plain read + json.loads (floor)", lambda: floor(files)),
            ("nft1000 scan", lambda: scan_collections(discover_collections(root), min_tokens=1)),
        ):
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - start)
            timings[label] = best
    n = args.collections * args.tokens
    form = "zips" if args.zip else "folders"
    print(f"{n} tokens in {args.collections} {form}, 3 files each; code from {Path(package.__file__).parent}")
    print(f"best of {args.repeats}, {os.cpu_count()} CPUs, one process\n")
    print("| method | seconds | tokens/s | vs floor |")
    print("| --- | ---: | ---: | ---: |")
    base = timings["plain read + json.loads (floor)"]
    for label, seconds in timings.items():
        print(f"| {label} | {seconds:.2f} | {n / seconds:,.0f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
