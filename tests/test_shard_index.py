"""One collection read without the rest: the build's collections.json, locally and from a Hub-shaped repo."""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset

from nft1000_dataset.exported import TokenImages, load_collections
from nft1000_dataset.shard_index import INDEX_FILE, CollectionNotFound, read_index


@pytest.fixture(scope="module")
def names(exported) -> list[str]:
    out, _ = exported
    return sorted(Counter(load_dataset(str(out), "full", split="train")["collection"]))


def test_the_index_lists_every_shard_of_every_collection_once(exported):
    out, _ = exported
    index = read_index(str(out))
    assert set(index) == {"full", "mini"}
    for config, entries in index.items():
        listed = [file for entry in entries.values() for file in entry["files"]]
        on_disk = sorted(str(p.relative_to(out)) for p in (out / "data" / config).glob("*.parquet"))
        assert sorted(listed) == on_disk and len(set(listed)) == len(listed)
        for name, entry in entries.items():  # every file of a collection holds that collection only
            rows = load_dataset("parquet", data_files=[str(out / f) for f in entry["files"]], split="train")
            assert set(rows["collection"]) == {name} and all(f"/{entry['split']}-" in f for f in entry["files"])


def test_one_collection_is_read_from_its_own_shards_only(exported, names, tmp_path):
    out, _ = exported
    name = names[0]
    own = set(read_index(str(out))["full"][name]["files"])
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    for shard in copy.glob("data/*/*.parquet"):  # nothing else can be read: every other shard is gone
        if str(shard.relative_to(copy)) not in own:
            shard.unlink()
    rows = load_collections(str(copy), [name], "full")
    expected = load_dataset(str(out), "full", split="train").filter(lambda c: c == name, input_columns="collection")
    assert rows["token_id"] == expected["token_id"] and set(rows["collection"]) == {name}
    streamed = load_collections(str(copy), [name], "full", streaming=True)
    assert [row["token_id"] for row in streamed] == expected["token_id"]
    with pytest.raises(CollectionNotFound, match="close"):
        load_collections(str(copy), [name[:-1]], "full")


def test_one_collection_from_a_hub_repo_downloads_its_shards_only(exported, names, tmp_path, monkeypatch):
    import huggingface_hub

    out, _ = exported  # the "Hub repo": its files are served from here, and every request is recorded
    requested: list[str] = []

    def hf_hub_download(repo_id, filename, repo_type=None, **kwargs):
        assert repo_id == "someone/nft1000" and repo_type == "dataset"
        requested.append(filename)
        return str(out / filename)

    def snapshot_download(repo_id, repo_type=None, allow_patterns=None, **kwargs):
        assert repo_id == "someone/nft1000" and repo_type == "dataset"
        folder = tmp_path / "snapshot"
        for pattern in allow_patterns:
            requested.append(pattern)
            (folder / pattern).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / pattern, folder / pattern)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    name = names[-1]
    rows = load_collections("someone/nft1000", [name], "full")
    own = json.loads((out / INDEX_FILE).read_text())["full"][name]["files"]
    assert requested == [INDEX_FILE, *own]  # the index, then that collection's shards: nothing else
    assert set(rows["collection"]) == {name} and rows.num_rows > 0


def test_token_images_open_only_the_collections_asked_for(exported, names):
    out, _ = exported
    images = TokenImages(str(out), "full")
    first = load_collections(str(out), [names[0]], "full")
    image = images(names[0], first["token_id"][0])
    assert image.size == first[0]["image"].size and list(images._opened) == [names[0]]


def test_the_rebuilt_index_keeps_configs_built_earlier(synth_folders, tmp_path):
    from conftest import MIN_TOKENS, build_options

    from nft1000_dataset.export import export_release

    out = tmp_path / "out"
    export_release(synth_folders / "release", out, build_options(), min_tokens=MIN_TOKENS, num_proc=2)
    export_release(synth_folders / "release", out, {"mini": build_options()["mini"]}, min_tokens=MIN_TOKENS)
    assert set(read_index(str(out))) == {"full", "mini"}
    assert Path(out / INDEX_FILE).is_file()
