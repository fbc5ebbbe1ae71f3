"""The component library: separated components as data, one Parquet row per component.

Written into an exported NFT1000 folder it becomes the dataset's extra config ``components``
(``load_dataset(path, "components", split="train")``), so it ships on the Hub beside the images. Masks and
pixels are PNG images (``mask``: L, 255 inside; ``pixels``: RGBA, alpha = mask), at the dataset's resolution.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, Features, Image, List, Value
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard
from PIL import Image as PILImage

from nft1000_dataset.atomic import atomic_write_bytes, atomic_write_text

from .separation import Component, SeparationResult, TraitKey

CONFIG_NAME = "components"
DATA_FILE = f"data/{CONFIG_NAME}/train-00000-of-00001.parquet"
REPORT_FILE = "components_report.json"
FEATURES = Features(
    {
        "collection": Value("string"),
        "trait_type": Value("string"),
        "value": Value("string"),
        "mask": Image(),
        "pixels": Image(),
        "bbox": List(Value("int32")),
        "support": Value("int32"),
        "confidence": Value("float32"),
        "method": Value("string"),
        "positives": Value("int32"),
        "contrast": Value("int32"),
    }
)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def component_row(component: Component) -> dict:
    alpha = component.mask.astype(np.uint8) * 255
    stem = f"{component.collection}_{component.trait_type}_{component.value}"
    return {
        "collection": component.collection,
        "trait_type": component.trait_type,
        "value": component.value,
        "mask": {"bytes": _png(alpha), "path": f"{stem}_mask.png"},
        "pixels": {"bytes": _png(np.dstack([component.rgb, alpha])), "path": f"{stem}.png"},
        "bbox": list(component.bbox),
        "support": component.support,
        "confidence": component.confidence,
        "method": component.method,
        "positives": component.positives,
        "contrast": component.contrast,
    }


def component_from_row(row: dict) -> Component:
    rgba = np.asarray(row["pixels"].convert("RGBA"))
    return Component(
        collection=row["collection"],
        trait_type=row["trait_type"],
        value=row["value"],
        mask=rgba[..., 3] > 0,
        rgb=np.ascontiguousarray(rgba[..., :3]),
        support=row["support"],
        confidence=row["confidence"],
        method=row["method"],
        positives=row["positives"],
        contrast=row["contrast"],
    )


def save_library(results: list[SeparationResult], out_dir: str | Path) -> Path:
    """Write the components and the per-collection report; add the config to the folder's card if it has one."""
    out_dir = Path(out_dir)
    rows = [component_row(c) for result in results for c in result.components]
    table = pa.Table.from_pylist([FEATURES.encode_example(r) for r in rows], schema=FEATURES.arrow_schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=100)
    atomic_write_bytes(out_dir / DATA_FILE, sink.getvalue().to_pybytes())
    report = {
        r.collection: {
            "tokens": r.tokens,
            "images_used": r.images_used,
            "seconds": round(r.seconds, 2),
            "components": len(r.components),
            "no_component": r.skipped,
        }
        for r in results
    }
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(report, indent=1, ensure_ascii=False))
    _add_config_to_card(out_dir)
    return out_dir / DATA_FILE


def _add_config_to_card(out_dir: Path) -> None:
    card_path = out_dir / "README.md"
    if not card_path.exists():
        return
    card = DatasetCard.load(card_path)
    configs = {CONFIG_NAME: {"data_files": [{"split": "train", "path": DATA_FILE}]}}
    MetadataConfigs(configs).to_dataset_card_data(card.data)
    atomic_write_text(card_path, str(card))


class ComponentLibrary:
    """Components by collection, decoded once per collection and process. Picklable (the cache is not)."""

    def __init__(self, rows: Dataset):
        self.rows = rows
        self._index: dict[str, list[int]] | None = None
        self._cache: dict[str, dict[TraitKey, Component]] = {}

    @classmethod
    def load(cls, path: str) -> ComponentLibrary:
        """From an exported folder or Hub repo that has the ``components`` config.

        The one Parquet file is read directly (it is small) rather than through the `datasets` cache, so a
        library rewritten in place is never served stale."""
        local = Path(path) / DATA_FILE
        missing = f"{path}: no component library ({DATA_FILE}); run `nft1000 components --dataset {path}` first"
        if Path(path).is_dir() and not local.is_file():
            raise FileNotFoundError(missing)
        if not local.is_file():
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError

            try:
                local = Path(hf_hub_download(path, DATA_FILE, repo_type="dataset"))
            except EntryNotFoundError as err:
                raise FileNotFoundError(missing) from err
        return cls(Dataset(pq.read_table(local)))

    @classmethod
    def from_results(cls, results: list[SeparationResult]) -> ComponentLibrary:
        rows = [component_row(c) for result in results for c in result.components]
        return cls(Dataset.from_list(rows, features=FEATURES))

    def __getstate__(self) -> dict:
        return {"rows": self.rows, "_index": self._index, "_cache": {}}

    def collections(self) -> list[str]:
        return sorted(self._collection_index())

    def _collection_index(self) -> dict[str, list[int]]:
        if self._index is None:
            self._index = {}
            for i, name in enumerate(self.rows["collection"]):
                self._index.setdefault(name, []).append(i)
        return self._index

    def collection(self, name: str, shape: tuple[int, int] | None = None) -> dict[TraitKey, Component]:
        """The components of one collection by (trait_type, value), at `shape` if given; empty if none."""
        if name not in self._cache:
            rows = self._collection_index().get(name, [])
            components = [component_from_row(self.rows[i]) for i in rows]
            self._cache[name] = {c.key: c for c in components}
        native = self._cache[name]
        if shape is None or not native or next(iter(native.values())).mask.shape == shape:
            return native
        key = f"{name}\x1f{shape}"
        if key not in self._cache:
            self._cache[key] = {k: c.resized(shape) for k, c in native.items()}
        return self._cache[key]
