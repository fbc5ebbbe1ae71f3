"""A fuzzer over the reader: hypothesis mutations of real token files through the scan, the rows and the media
decoder.

The seeds are a real token's files in every format the release carries: its image as PNG, JPEG, GIF and WebP,
an SVG, its metadata JSON and a caption, from the synthetic generator's art. A mutation flips, inserts, deletes,
repeats or cuts bytes, or splices another seed in. `check_token` writes the mutated file into a collection (a
folder, or a zip whose member holds it), runs `scan.scan_collection` and `examples.shard_rows` over it, and asserts
what the build promises: no exception escapes, read = kept + skipped, and the token takes bounded time. Memory is
bounded by running the fuzzer under an address-space limit (`tests/test_fuzz.py`, `benchmarks/fuzz_reader.py`).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from nft1000_dataset.examples import shard_rows
from nft1000_dataset.media import MediaError, standardize_image
from nft1000_dataset.plan import Shard
from nft1000_dataset.release import CollectionSource
from nft1000_dataset.report import Tally
from nft1000_dataset.scan import scan_collection

SECONDS_PER_TOKEN = 5.0  # far above a real token's tens of milliseconds: only a hang or a bomb gets near it
COLLECTION = "Fuzz"
GOOD = ("1", "2")  # tokens beside the mutated one, which must stay kept


def seed_files() -> dict[str, tuple[str, bytes]]:
    """Seed name -> (the release part and extension it is written as, its bytes)."""
    rng = np.random.default_rng(0)
    pixels = np.repeat(np.repeat(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8), 4, 0), 4, 1)
    image = Image.fromarray(pixels)
    image.putpixel((0, 0), (255, 0, 0))
    seeds: dict[str, tuple[str, bytes]] = {}
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp")):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        seeds[fmt.lower()] = (f"images.{ext}", buffer.getvalue())
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96"><rect width="96" height="96" '
           'fill="#3a7"/><circle cx="48" cy="40" r="20" fill="#fc0"/><path d="M20 90 Q48 60 76 90" stroke="#000"/>'
           "</svg>")  # fmt: skip
    seeds["svg"] = ("images.svg", svg.encode())
    traits = {"Background": "Teal", "Eyes": "Laser", "Hat": "Béret", "Level": 7}
    meta = {"name": "Fuzz #9", "image": "ipfs://Qm/9.png",
            "attributes": [{"trait_type": k, "value": v} for k, v in traits.items()]}  # fmt: skip
    meta["attributes"][-1]["display_type"] = "number"
    seeds["metadata"] = ("metadata.json", json.dumps(meta, ensure_ascii=False).encode())
    seeds["caption"] = ("captions.txt", b"An NFT from Fuzz with Background: Teal; Eyes: Laser.")
    return seeds


SEEDS = seed_files()


def _own_image(token_id: str) -> bytes:
    """The seed PNG with one pixel of the token's own: a collection of identical images is a cover, dropped."""
    image = Image.open(io.BytesIO(SEEDS["png"][1])).convert("RGB")
    image.putpixel((1, 1), (int(token_id) % 256, 7, 7))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


GOOD_IMAGES = {token_id: _own_image(token_id) for token_id in (*GOOD, "9")}


@dataclass(frozen=True)
class Mutation:
    """What was done to a seed (for the report of a finding)."""

    seed: str
    operations: tuple[tuple, ...]


def _apply(data: bytes, operation: tuple) -> bytes:
    kind, position, value = operation
    at = position % (len(data) + 1)
    if kind == "flip" and data:
        at %= len(data)
        return data[:at] + bytes([data[at] ^ (1 << (value % 8))]) + data[at + 1 :]
    if kind == "set" and data:
        at %= len(data)
        return data[:at] + bytes([value % 256]) + data[at + 1 :]
    if kind == "insert":
        return data[:at] + bytes([value % 256]) * (1 + value % 64) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + 1 + value % 64 :]
    if kind == "repeat":
        return data[:at] + data[at : at + 1 + value % 256] * (2 + value % 8) + data[at:]
    if kind == "cut":
        return data[:at]
    if kind == "splice":
        other = list(SEEDS.values())[value % len(SEEDS)][1]
        return data[:at] + other[position % (len(other) + 1) :]
    return data


def mutate(seed: str, operations: tuple[tuple, ...]) -> bytes:
    data = SEEDS[seed][1]
    for operation in operations:
        data = _apply(data, operation)
    return data


OPERATIONS = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "repeat", "cut", "splice"]),
    st.integers(0, 2**20),
    st.integers(0, 2**16),
)
MUTATIONS = st.builds(Mutation, st.sampled_from(sorted(SEEDS)), st.lists(OPERATIONS, min_size=1, max_size=6).map(tuple))


def _files(mutated_seed: str, data: bytes) -> dict[str, bytes]:
    """A collection's files: two good tokens, and token 9 with the mutated file in its part."""
    files = {}
    for token_id in (*GOOD, "9"):
        files[f"images/{COLLECTION}_{token_id}.png"] = GOOD_IMAGES[token_id]
        for seed in ("metadata", "caption"):
            part, ext = SEEDS[seed][0].split(".")
            files[f"{part}/{COLLECTION}_{token_id}.{ext}"] = SEEDS[seed][1]
    part, ext = SEEDS[mutated_seed][0].split(".")
    files = {k: v for k, v in files.items() if not k.startswith(f"{part}/{COLLECTION}_9.")}
    files[f"{part}/{COLLECTION}_9.{ext}"] = data
    return files


def write_collection(root: Path, mutation: Mutation, as_zip: bool) -> CollectionSource:
    """The collection with the mutated token, as a folder or a zip, under `root` (emptied first)."""
    files = _files(mutation.seed, mutate(mutation.seed, mutation.operations))
    if as_zip:
        path = root / f"{COLLECTION}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(f"{COLLECTION}/{name}", data)
        return CollectionSource(COLLECTION, str(path))
    for name, data in files.items():
        (root / COLLECTION / name).parent.mkdir(parents=True, exist_ok=True)
        (root / COLLECTION / name).write_bytes(data)
    return CollectionSource(COLLECTION, str(root / COLLECTION))


def check_token(root: Path, mutation: Mutation, as_zip: bool) -> dict:
    """Scan and build the mutated collection; returns what happened to the mutated token. Raises AssertionError
    where the build breaks a promise (an exception is let through as it is: that is a finding too)."""
    source = write_collection(root, mutation, as_zip)
    start = time.monotonic()
    scan = scan_collection(source, min_tokens=1)
    tally = Tally()
    tally.merge(scan.tally)
    shard = Shard("train", 0, 1, source, tuple(scan.usable))
    rows = {row["token_id"]: row for row in shard_rows(shard, 64, "fuzz", tally)}
    seconds = time.monotonic() - start
    assert tally.read == tally.kept + sum(tally.skipped.values()), tally.to_dict()
    assert tally.read == len(GOOD) + 1, tally.to_dict()
    assert all(token in rows for token in GOOD), (tally.to_dict(), sorted(rows))
    assert seconds < SECONDS_PER_TOKEN * (len(GOOD) + 1), seconds
    return {"kept": "9" in rows, "skipped": dict(tally.skipped), "seconds": seconds}


def check_media(data: bytes) -> str:
    """The media decoder alone: a PNG or a counted `MediaError`; returns the outcome's label."""
    try:
        standardize_image(data, width=64, frame_seed="fuzz")
    except MediaError as err:
        return err.reason
    return "kept"


MEGABYTES_PER_TOKEN = 200  # what one token may add to the process's peak (a 512 x 512 image is about 1 MB)


def _resident() -> tuple[int, int] | None:
    """(current, peak) resident bytes of this process, from /proc (Linux), or None."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    except OSError:
        return None
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current size (Linux 4.0 on)
    except OSError:
        return False
    return True


def run_fuzz(examples: int, seed: int = 0) -> dict:
    """`examples` hypothesis mutations through `check_token` (folder and zip) and `check_media`; a falsified
    promise raises (hypothesis shrinks it first). Returns the outcomes counted, the slowest token and the largest
    rise of the peak memory over one token."""
    import tempfile

    from hypothesis import HealthCheck, given, settings

    outcomes: dict[str, int] = {}
    worst = {"seconds": 0.0, "megabytes": 0.0}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(MUTATIONS, st.booleans())
    def one(mutation: Mutation, as_zip: bool) -> None:
        measured = _reset_peak() and _resident()
        with tempfile.TemporaryDirectory() as folder:
            result = check_token(Path(folder), mutation, as_zip)
        label = check_media(mutate(mutation.seed, mutation.operations)) if mutation.seed not in (
            "metadata", "caption") else ("kept" if result["kept"] else next(iter(result["skipped"]), "?"))  # fmt: skip
        outcomes[f"{mutation.seed}: {label}"] = outcomes.get(f"{mutation.seed}: {label}", 0) + 1
        worst["seconds"] = max(worst["seconds"], result["seconds"])
        if measured and (after := _resident()):
            rise = (after[1] - measured[0]) / 2**20
            worst["megabytes"] = max(worst["megabytes"], rise)
            assert rise < MEGABYTES_PER_TOKEN, (mutation, rise)

    import random

    random.seed(seed)
    one()
    return {"examples": examples, "outcomes": dict(sorted(outcomes.items())), **worst}
