"""Which shards hold which collection: ``collections.json``, written by the export and read by `exported`.

Every shard of an export holds tokens of one collection. `nft1000 build` writes ``collections.json`` beside the
card: per config, per collection, its split and its shard files.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from nft1000_io.atomic import atomic_write_text

INDEX_FILE = "collections.json"


class CollectionNotFound(KeyError, ValueError):
    """A collection the index does not list; the message names the close matches. A KeyError to lookups, a
    ValueError (a user's mistake, `nft1000.errors`) to the command line and scripts."""

    def __str__(self) -> str:
        return str(self.args[0])


def shard_entries(config: str, shards) -> dict[str, dict]:
    """{collection: {"split", "files"}} of one config's shards (`plan.Shard`s, all splits)."""
    entries: dict[str, dict] = {}
    for shard in shards:
        entry = entries.setdefault(shard.source.name, {"split": shard.split, "files": []})
        entry["files"].append(f"data/{config}/{shard.filename}")
    return entries


def write_index(out_dir: Path, configs: dict[str, dict[str, dict]], target: Path | None = None) -> None:
    """Write ``collections.json`` (or `target`) with `configs` ({config: entries}), keeping the entries of configs
    an earlier build wrote whose shards are still there."""
    path = Path(out_dir) / INDEX_FILE
    index = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    index = {config: entries for config, entries in index.items() if (Path(out_dir) / "data" / config).is_dir()}
    index.update(configs)
    atomic_write_text(target or path, json.dumps(index, indent=1, ensure_ascii=False, sort_keys=True))


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
