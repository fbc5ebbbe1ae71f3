"""The component library: separated components as data, one Parquet file per collection and a manifest.

Written into an exported NFT1000 folder it becomes the dataset's extra config ``components``
(``load_dataset(path, "components", split="train")``), so it ships on the Hub beside the images::

    data/components/<collection>-<hash>.parquet   one row per component: mask and RGBA pixels of its box (PNG)
    components_report.json                        per collection: its file, the colour tolerance and working
                                                  grid separation used, what got no component and why

Each collection's file is written as the collection finishes, then the manifest (atomically), so an
interrupted run keeps every finished collection and a rerun resumes. `ComponentLibrary` reads the manifest and
then one collection's file when that collection is first asked for (from a folder, or one file from a Hub
repo), keeping decoded collections in a cache bounded in bytes: memory does not grow with the number of
collections a process meets.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, Image, List, Value
from PIL import Image as PILImage

from modeling.byte_cache import ByteLRU
from modeling.separation.component import Component, TraitKey
from modeling.separation.grid import WorkingGrid
from modeling.separation.separate import SeparationResult
from nft1000_dataset.card import add_config_to_card, config_info
from nft1000_io.atomic import atomic_write_bytes, atomic_write_text, png_bytes
from nft1000_io.hub import looks_local
from nft1000_io.text import markdown_cell

logger = logging.getLogger(__name__)

CONFIG_NAME = "components"
DATA_DIR = f"data/{CONFIG_NAME}"
REPORT_FILE = "components_report.json"
DEFAULT_CACHE_BYTES = 256 * 2**20  # decoded components kept per process
CARD_SECTION = """## The `components` config

Added by `nft1000 components`: {components} trait components separated from the images of {collections}
collections (paper, 5.1), one row per component: its collection, trait type and value, its mask and RGBA pixels
within its box (PNG), the box and the image size, how many tokens carry it (`support`), how sure separation is
(`confidence`) and how it was found (`method`). `load_dataset(path, "components", split="train")`;
`components_report.json` says per collection what got no component and why. Dynamic masking (`train_clip.py`)
hides these components and drops their phrases from the caption.
"""
FEATURES = Features(
    {
        "collection": Value("string"),
        "trait_type": Value("string"),
        "value": Value("string"),
        "mask": Image(),  # L, 255 inside, the box only
        "pixels": Image(),  # RGBA, alpha = mask, the box only
        "bbox": List(Value("int32")),  # x0, y0, x1, y1 in the image (ends exclusive)
        "image_size": List(Value("int32")),  # height, width of the image
        "support": Value("int32"),
        "confidence": Value("float32"),
        "method": Value("string"),
        "positives": Value("int32"),
        "contrast": Value("int32"),
    }
)


def collection_file(collection: str) -> str:
    """The library file of one collection: a readable, path-safe name and a hash of the exact name."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", collection).strip("_")[:60] or "collection"
    digest = hashlib.sha1(collection.encode()).hexdigest()[:8]
    return f"{DATA_DIR}/{readable}-{digest}.parquet"


def component_row(component: Component) -> dict:
    alpha = component.mask_crop.astype(np.uint8) * 255
    stem = f"{component.collection}_{component.trait_type}_{component.value}"
    return {
        "collection": component.collection,
        "trait_type": component.trait_type,
        "value": component.value,
        "mask": {"bytes": png_bytes(alpha), "path": f"{stem}_mask.png"},
        "pixels": {"bytes": png_bytes(np.dstack([component.rgb_crop, alpha])), "path": f"{stem}.png"},
        "bbox": list(component.box),
        "image_size": list(component.size),
        "support": component.support,
        "confidence": component.confidence,
        "method": component.method,
        "positives": component.positives,
        "contrast": component.contrast,
    }


def component_from_row(row: dict, grid: WorkingGrid | None = None) -> Component:
    """A component from a library row (undecoded images: {"bytes", "path"}), with its collection's grid."""
    rgba = np.asarray(PILImage.open(io.BytesIO(row["pixels"]["bytes"])).convert("RGBA"))
    x0, y0, x1, y1 = row["bbox"]
    return Component(
        collection=row["collection"],
        trait_type=row["trait_type"],
        value=row["value"],
        box=(x0, y0, x1, y1),
        size=tuple(row["image_size"]),
        mask_crop=rgba[..., 3] > 0,
        rgb_crop=np.ascontiguousarray(rgba[..., :3]),
        support=row["support"],
        confidence=row["confidence"],
        method=row["method"],
        positives=row["positives"],
        contrast=row["contrast"],
        grid=grid,
    )


def collection_report(result: SeparationResult, file: str) -> dict:
    """What the manifest records of one collection."""
    grid = result.grid
    return {
        "file": file,
        "tokens": result.tokens,
        "images_used": result.images_used,
        "seconds": round(result.seconds, 2),
        "components": len(result.components),
        "tolerance": result.tolerance,
        "grid": {"cells": list(grid.cells), "full": list(grid.full), "native": grid.native} if grid else None,
        "explained": round(result.explained, 4),
        "not_layered": result.not_layered,
        "no_component": result.skipped,
    }


def _grid(report: dict) -> WorkingGrid | None:
    grid = report.get("grid")
    if not grid or not grid["native"]:
        return None  # only pixel art's own grid is used after separation (token masks judged per cell)
    return WorkingGrid(tuple(grid["full"]), tuple(grid["cells"]), native=True)


class LibraryWriter:
    """Writes a library into `out_dir` one collection at a time (module docstring); `done` lists what a
    previous run finished, so that a rerun skips it."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        path = self.out_dir / REPORT_FILE
        self.report: dict[str, dict] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def done(self) -> set[str]:
        return {name for name, entry in self.report.items() if (self.out_dir / entry.get("file", "")).is_file()}

    def add(self, result: SeparationResult) -> None:
        """Write one collection's components (its file, atomically), then the manifest."""
        file = collection_file(result.collection)
        rows = [FEATURES.encode_example(component_row(c)) for c in result.components]
        table = pa.Table.from_pylist(rows, schema=FEATURES.arrow_schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(self.out_dir / file, sink.getvalue().to_pybytes())
        self.report[result.collection] = {**collection_report(result, file), "nbytes": table.nbytes}
        atomic_write_text(self.out_dir / REPORT_FILE, json.dumps(self.report, indent=1, ensure_ascii=False))

    def finish(self) -> None:
        """Add the ``components`` config, its ``dataset_info`` and its section to the folder's dataset card, if it
        has one."""
        entries = self.report.values()
        rows = sum(entry["components"] for entry in entries)
        parquet = sum((self.out_dir / entry["file"]).stat().st_size for entry in entries)
        arrow = sum(entry.get("nbytes", 0) for entry in entries) or parquet
        info = config_info(CONFIG_NAME, {"train": (rows, parquet, arrow)}, FEATURES)
        section = CARD_SECTION.format(components=rows, collections=len(self.report))
        add_config_to_card(self.out_dir, CONFIG_NAME, f"{DATA_DIR}/*.parquet", info, section)


def components_table(report: dict[str, dict]) -> str:
    """The manifest as a Markdown table: per collection what separation read, found and left out."""
    lines = [
        "| collection | tokens | components | no component | tolerance | working grid | seconds | note |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for name, entry in sorted(report.items()):
        grid = entry.get("grid")
        shape = f"{grid['cells'][1]}x{grid['cells'][0]} {'pixel' if grid['native'] else 'blocks'}" if grid else "-"
        lines.append(
            f"| {markdown_cell(name)} | {entry['tokens']} | {entry['components']} | {len(entry['no_component'])} "
            f"| {entry['tolerance']} | {shape} | {entry['seconds']:.1f} | {entry.get('not_layered', '')} |"
        )
    return "\n".join(lines)


def save_library(results: Iterable[SeparationResult], out_dir: str | Path) -> Path:
    """Write every result's components and the manifest into `out_dir`; returns the manifest's path."""
    writer = LibraryWriter(out_dir)
    for result in results:
        writer.add(result)
    writer.finish()
    return writer.out_dir / REPORT_FILE


class ComponentLibrary:
    """Components by collection, read lazily: a collection's rows (still encoded: a few KB a component) are read
    the first time it is asked for and kept in an LRU cache of at most `cache_bytes`; components are decoded
    when asked for, only those asked for. Memory does not grow with the number of collections a process meets.
    Picklable (the cache stays behind)."""

    def __init__(self, report: dict[str, dict], read, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.report = report
        self.read = read  # collection name -> {key: encoded row}
        self._rows = ByteLRU(cache_bytes)  # collection -> its encoded rows

    @classmethod
    def load(cls, path: str, dataset: str | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES) -> ComponentLibrary:
        """From an exported folder or Hub dataset repo with the ``components`` config: reads the manifest only.
        `dataset` (the export the library separates, where known) is named in the error when there is none."""
        missing = (
            f"{path}: no component library ({REPORT_FILE}); run `nft1000 components --dataset "
            f"{dataset or 'EXPORTED_DATASET'} --out {path}` first"
        )
        if looks_local(path) and not Path(path).is_dir():
            raise FileNotFoundError(missing)
        opener = _LocalFiles(Path(path)) if Path(path).is_dir() else _HubFiles(path)
        try:
            report = json.loads(Path(opener(REPORT_FILE)).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise FileNotFoundError(missing) from err
        if any("file" not in entry for entry in report.values()):
            raise ValueError(f"{path}: a component library of an older layout; rerun `nft1000 components`")
        return cls(report, _FileRows(report, opener), cache_bytes)

    @classmethod
    def from_results(cls, results: Iterable[SeparationResult], cache_bytes: int = DEFAULT_CACHE_BYTES):
        """An in-memory library of separation results (encoded as the files would hold them; no files)."""
        results = list(results)
        rows = {r.collection: {c.key: component_row(c) for c in r.components} for r in results}
        report = {r.collection: collection_report(r, "") for r in results}
        return cls(report, rows.get, cache_bytes)

    def collections(self) -> list[str]:
        """Every collection the library has a report of (with or without components)."""
        return sorted(self.report)

    def check_coverage(
        self, collections: Iterable[str], dataset: str, where: str, otherwise: str, kind: str = "collections"
    ) -> None:
        """Log for how many of `collections` (what they are: `kind`) the library has components; for none at all
        it is an error naming the command that separates them (or `otherwise`), since masking would hide nothing."""
        counts = {name: self.info(name).get("components", 0) for name in sorted(collections)}
        without = [name for name, count in counts.items() if not count]
        logger.info(
            "dynamic masking: components for %d of %d %s (%d components)%s",
            len(counts) - len(without), len(counts), kind, sum(counts.values()),
            f"; none for {', '.join(without[:5])}{' ...' if len(without) > 5 else ''}" if without else "",
        )  # fmt: skip
        if len(without) == len(counts):
            raise ValueError(
                f"the component library at {where} has no component for any of the {len(counts)} {kind}: "
                f"run `nft1000 components --dataset {dataset} --split train --out {where}`, or {otherwise}"
            )

    def info(self, name: str) -> dict:
        """The manifest's entry of one collection (tolerance, grid, not_layered, ...); empty if unknown."""
        return self.report.get(name, {})

    def _encoded(self, name: str) -> dict[TraitKey, dict]:
        cached = self._rows.get(name)
        if cached is not None:
            return cached
        rows = self.read(name) or {}
        size = sum(len(r["mask"]["bytes"]) + len(r["pixels"]["bytes"]) + 256 for r in rows.values())
        return self._rows.put(name, rows, size)

    def keys(self, name: str) -> set[TraitKey]:
        """The (trait_type, value) pairs of one collection that have a component."""
        return set(self._encoded(name))

    def components(
        self, name: str, keys: Iterable[TraitKey] | None = None, shape: tuple[int, int] | None = None
    ) -> dict[TraitKey, Component]:
        """The components of one collection with these `keys` (default: all), at `shape` (height, width) if
        given; keys without a component are left out."""
        rows = self._encoded(name)
        grid = _grid(self.report.get(name, {}))
        wanted = rows if keys is None else [k for k in keys if k in rows]
        found = {key: component_from_row(rows[key], grid) for key in wanted}
        return found if shape is None else {key: c.resized(shape) for key, c in found.items()}

    def collection(self, name: str, shape: tuple[int, int] | None = None) -> dict[TraitKey, Component]:
        """Every component of one collection by (trait_type, value), at `shape` if given; empty if none."""
        return self.components(name, None, shape)


class _LocalFiles:
    def __init__(self, root: Path):
        self.root = root

    def __call__(self, relative: str) -> str:
        path = self.root / relative
        if not path.is_file():
            raise FileNotFoundError(path)
        return str(path)


class _HubFiles:
    """One file of a Hub dataset repo at a time (`hf_hub_download`, cached by huggingface_hub)."""

    def __init__(self, repo_id: str):
        self.repo_id = repo_id

    def __call__(self, relative: str) -> str:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return hf_hub_download(self.repo_id, relative, repo_type="dataset")
        except EntryNotFoundError as err:
            raise FileNotFoundError(f"{self.repo_id}: {relative}") from err


class _FileRows:
    """A collection's encoded rows from its file (through `opener`, local or Hub)."""

    def __init__(self, report: dict[str, dict], opener):
        self.report, self.opener = report, opener

    def __call__(self, name: str) -> dict[TraitKey, dict]:
        entry = self.report.get(name)
        if not entry or not entry["components"]:
            return {}
        table = pq.read_table(self.opener(entry["file"]))
        return {(row["trait_type"], row["value"]): row for row in table.to_pylist()}
