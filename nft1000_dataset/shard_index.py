"""Which shards hold which collection, so that one collection is read without the rest.

Every shard of an export holds tokens of one collection. `nft1000 build` writes ``collections.json`` beside the
card: per config, per collection, its split and its shard files. `load_collections` reads only those shards:
from a folder directly, from a Hub repo by downloading just those files (`huggingface_hub.snapshot_download`
with ``allow_patterns``), or streamed from the Hub (``hf://`` paths). Training a LoRA on Azuki then reads
Azuki's shards, not the multi-TB release.
"""

from __future__ import annotations

import difflib
import json
import logging
from pathlib import Path

from nft1000_io.atomic import atomic_write_text

INDEX_FILE = "collections.json"
logger = logging.getLogger(__name__)


class CollectionNotFound(KeyError):
    """A collection the index does not list; the message names the close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def shard_entries(config: str, shards) -> dict[str, dict]:
    """{collection: {"split", "files"}} of one config's shards (`plan.Shard`s, all splits)."""
    entries: dict[str, dict] = {}
    for shard in shards:
        entry = entries.setdefault(shard.source.name, {"split": shard.split, "files": []})
        entry["files"].append(f"data/{config}/{shard.filename}")
    return entries


def write_index(out_dir: Path, configs: dict[str, dict[str, dict]]) -> None:
    """Write ``collections.json`` with `configs` ({config: entries}), keeping the entries of configs an earlier
    build wrote whose shards are still there."""
    path = Path(out_dir) / INDEX_FILE
    index = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    index = {config: entries for config, entries in index.items() if (Path(out_dir) / "data" / config).is_dir()}
    index.update(configs)
    atomic_write_text(path, json.dumps(index, indent=1, ensure_ascii=False, sort_keys=True))


def read_index(path: str) -> dict[str, dict[str, dict]] | None:
    """The index of an exported folder or Hub dataset repo, or None if it has none (an older export)."""
    local = Path(path) / INDEX_FILE
    if Path(path).is_dir():
        return json.loads(local.read_text(encoding="utf-8")) if local.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return json.loads(Path(hf_hub_download(path, INDEX_FILE, repo_type="dataset")).read_text(encoding="utf-8"))
    except EntryNotFoundError:
        return None


def collection_files(index: dict, config: str, names: list[str], path: str = "") -> list[str]:
    """The shard files of `names` in `config`; an unknown name is an error naming the close matches."""
    if config not in index:
        raise CollectionNotFound(f"{path}: no config {config!r} in {INDEX_FILE} (has {sorted(index)})")
    entries = index[config]
    files = []
    for name in names:
        if name not in entries:
            close = difflib.get_close_matches(name, list(entries), n=5, cutoff=0.4)
            raise CollectionNotFound(f"{path}: no collection {name!r} in config {config!r} (close: {close or 'none'})")
        files += entries[name]["files"]
    return files


def load_collections(path: str, names: list[str], config: str = "full", streaming: bool = False):
    """The rows of the collections `names` of an exported dataset (a folder or a Hub repo id), as one
    `Dataset` (or `IterableDataset` with `streaming`), reading only their shards."""
    from datasets import load_dataset

    index = read_index(path)
    if index is None:
        logger.warning("%s has no %s (an older export): reading every split to find %s", path, INDEX_FILE, names)
        rows = load_dataset(path, config, streaming=streaming)
        from datasets import concatenate_datasets, interleave_datasets

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
