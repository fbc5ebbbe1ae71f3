"""Reading an exported NFT1000 (a local folder or a Hub dataset repo): every split as one dataset, the rows of each
collection, and one collection's rows without the rest.

`load_collections` reads only the shards that ``collections.json`` (`shard_index`) lists for the collections
asked for: from a folder directly, from a Hub repo by downloading just those files
(`huggingface_hub.snapshot_download` with ``allow_patterns``), or streamed from the Hub (``hf://`` paths).
Training a LoRA on Azuki then reads Azuki's shards, not the multi-TB release.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .shard_index import INDEX_FILE, collection_files, read_index

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)


CONFIG_ALIASES = {"NFT1000": "full", "NFT1000mini": "mini"}  # the paper's names of the configs


def config_name(config: str | None) -> str | None:
    """The card's config name: ``full`` and ``mini``, or the paper's ``NFT1000`` and ``NFT1000mini`` for them."""
    return CONFIG_ALIASES.get(config, config) if config else config


def load_export(path: str, config: str | None = None, **kwargs):
    """`datasets.load_dataset` of an export (a folder or a Hub repo id), the paper's config names accepted."""
    from datasets import load_dataset

    return load_dataset(path, config_name(config), **kwargs)


def load_all_splits(path: str, config: str = "full", splits: list[str] | None = None) -> Dataset:
    """Every split of an exported dataset (a local folder or a Hub repo id) as one Dataset."""
    from datasets import concatenate_datasets

    loaded = load_export(path, config)
    names = splits or list(loaded)
    return concatenate_datasets([loaded[name] for name in names])


def rows_by_collection(collections: Dataset | Sequence[str]) -> dict[str, list[int]]:
    """Row indices of each collection, in row order, from a dataset's ``collection`` column or the names."""
    names = collections["collection"] if hasattr(collections, "column_names") else collections
    rows: dict[str, list[int]] = defaultdict(list)
    for index, collection in enumerate(names):
        rows[collection].append(index)
    return dict(rows)


def load_collections(path: str, names: list[str], config: str = "full", streaming: bool = False):
    """The rows of the collections `names` of an exported dataset (a folder or a Hub repo id), as one
    `Dataset` (or `IterableDataset` with `streaming`), reading only their shards."""
    from datasets import concatenate_datasets, interleave_datasets, load_dataset

    config = config_name(config)
    index = read_index(path)
    if index is None:
        logger.warning("%s has no %s (an older export): reading every split to find %s", path, INDEX_FILE, names)
        rows = load_dataset(path, config, streaming=streaming)
        joined = interleave_datasets(list(rows.values())) if streaming else concatenate_datasets(list(rows.values()))
        wanted = set(names)
        return joined.filter(lambda name: name in wanted, input_columns=["collection"])
    files = collection_files(index, config, names, path)
    if Path(path).is_dir():
        data_files = [str(Path(path) / f) for f in files]
    elif streaming:
        data_files = [f"hf://datasets/{path}/{f}" for f in files]
    else:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(path, repo_type="dataset", allow_patterns=files)
        data_files = [str(Path(folder) / f) for f in files]
    return load_dataset("parquet", data_files=data_files, split="train", streaming=streaming)


class TokenImages:
    """(collection, token_id) -> PIL image over an exported dataset, opening each collection's shards the first
    time one of its tokens is asked for."""

    def __init__(self, path: str, config: str = "full"):
        self.path, self.config = path, config
        self._opened: dict[str, tuple] = {}

    def __call__(self, collection: str, token_id: str):
        if collection not in self._opened:
            rows = load_collections(self.path, [collection], self.config).select_columns(["token_id", "image"])
            self._opened[collection] = (rows, {token: i for i, token in enumerate(rows["token_id"])})
        rows, position = self._opened[collection]
        return rows[position[token_id]]["image"]
