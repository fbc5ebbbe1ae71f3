"""The build end to end on real files: synthetic releases with planted faults, exported and loaded back."""

import hashlib
import io
import json
import re
import shutil
from collections import Counter

import pytest
from conftest import MIN_TOKENS, MINI_PAIRS, ROWS_PER_SHARD, build_options
from datasets import load_dataset
from huggingface_hub import DatasetCard
from PIL import Image

from nft1000.cli import main as cli_main
from nft1000_dataset import NFT1000
from nft1000_dataset.export import ExportError, export_release
from nft1000_dataset.exported import load_export
from nft1000_dataset.release import discover_collections

FAULTY = "Pixel Apes 0"
MEDIA_REASONS = ("corrupt image", "empty file", "html page instead of media")


def _rows(dataset) -> dict[tuple[str, str], tuple]:
    """(collection, token_id) -> everything else, images as a hash of their PNG bytes."""
    out = {}
    for row in dataset.cast_column("image", dataset.features["image"].__class__(decode=False)):
        image = hashlib.sha256(row["image"]["bytes"]).hexdigest()
        key = (row["collection"], row["token_id"])
        assert key not in out, f"duplicate row {key}"
        out[key] = (image, row["caption"], row["prompt"], row["release_caption"], json.dumps(row["attributes"]))
    return out


def _tokens_on_disk(release) -> int:
    total = 0
    for source in discover_collections(release):
        with source.open() as reader:
            total += len(reader.token_ids())
    return total


def test_every_planted_fault_is_counted_with_its_reason(exported, faults_manifest, synth_folders):
    _out, reports = exported
    full = reports["full"]
    faulty = next(t for per in full.collections.values() for c, t in per.items() if c == FAULTY)
    expected = Counter(f["expected"] for f in faults_manifest["tokens"] if f["expected"] != "kept")
    assert dict(faulty.skipped) == dict(expected)
    for entry in faults_manifest["collections"]:
        assert full.dropped[entry["collection"]].startswith(entry["expected_drop"])
    assert set(full.dropped) == {e["collection"] for e in faults_manifest["collections"]}


def test_nothing_is_lost_read_equals_kept_plus_skipped(exported, synth_folders):
    _, reports = exported
    on_disk = _tokens_on_disk(synth_folders / "release")
    for report in reports.values():
        total_read = 0
        for per in report.collections.values():
            for tally in per.values():
                assert tally.read == tally.kept + sum(tally.skipped.values())
                total_read += tally.read
        assert total_read == on_disk


def test_converted_formats_are_kept_as_512_wide_rgb_png(exported, faults_manifest):
    out, _ = exported
    test_rows = load_dataset(str(out), "full")
    rows = [r for split in test_rows.values() for r in split if r["collection"] == FAULTY]
    assert len(rows) == 40 - sum(f["expected"] != "kept" for f in faults_manifest["tokens"])
    for row in rows:
        assert row["image"].mode == "RGB" and row["image"].width == 512


def test_splits_are_disjoint_by_collection_and_mini_samples_the_right_counts(exported):
    out, reports = exported
    full, mini = load_dataset(str(out), "full"), load_dataset(str(out), "mini")
    collections = {split: set(full[split]["collection"]) for split in full}
    assert sum(len(c) for c in collections.values()) == len(set().union(*collections.values()))
    for split in mini:
        assert set(mini[split]["collection"]) == collections[split]
        counts = Counter(mini[split]["collection"])
        for collection, count in counts.items():
            skipped = reports["mini"].collections[split][collection].skipped
            # the sample is drawn from tokens with usable metadata; images that fail to decode are found after
            failed_images = sum(skipped[r] for r in MEDIA_REASONS)
            assert count + failed_images == MINI_PAIRS
        mini_rows, full_rows = _rows(mini[split]), _rows(full[split])
        assert all(full_rows[k] == v for k, v in mini_rows.items())  # mini rows are full rows


def test_load_dataset_gives_the_builder_rows_in_memory_and_streaming(exported, synth_folders, tmp_path):
    out, _ = exported
    builder = NFT1000(
        config_name="mini",
        data_dir=str(synth_folders / "release"),
        cache_dir=str(tmp_path / "cache"),
        min_tokens=MIN_TOKENS,
        pairs_per_collection=MINI_PAIRS,
        rows_per_shard=ROWS_PER_SHARD,
    )
    builder.download_and_prepare(num_proc=2)
    built = builder.as_dataset()
    loaded = load_dataset(str(out), "mini")
    assert set(built) == set(loaded) == {"train", "validation", "test"}
    for split in built:
        assert _rows(built[split]) == _rows(loaded[split])
        streamed = load_dataset(str(out), "mini", split=split, streaming=True)
        keys = [(r["collection"], r["token_id"]) for r in streamed]
        assert keys == [(r["collection"], r["token_id"]) for r in loaded[split]]
    report = builder.build_report()
    assert report.to_dict()["splits"] == json.loads((out / "build_report.json").read_text())["mini"]["report"]["splits"]


@pytest.mark.slow
def test_a_release_of_zips_builds_the_same_rows_as_folders(exported, synth_zips, tmp_path):
    out, _ = exported
    export_release(synth_zips / "release", tmp_path / "z", build_options(), min_tokens=MIN_TOKENS, num_proc=2)
    for config in ("full", "mini"):
        a, b = load_dataset(str(out), config), load_dataset(str(tmp_path / "z"), config)
        for split in a:
            assert _rows(a[split]) == _rows(b[split])


def _shard_hashes(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.glob("data/*/*.parquet")}


def test_an_interrupted_export_resumes_to_the_same_shards(exported, synth_folders, tmp_path):
    out, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shards = sorted((copy / "data" / "full").glob("*.parquet"))
    shards[0].unlink()  # killed before the rename
    records = sorted((copy / ".nft1000_build" / "full").glob("*.parquet.json"))
    records[-1].unlink()  # killed between the rename and the record
    (copy / "data" / "full" / f".{shards[1].name}.tmp").write_bytes(b"half a shard")
    export_release(synth_folders / "release", copy, build_options(), min_tokens=MIN_TOKENS, num_proc=1)
    assert _shard_hashes(copy) == _shard_hashes(out)
    assert not list((copy / "data" / "full").glob(".*.tmp"))


def test_other_data_in_the_output_needs_overwrite(exported, synth_folders, tmp_path):
    out, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(ExportError, match="--overwrite"):
        export_release(synth_folders / "release", copy, build_options(sample_seed=99), min_tokens=MIN_TOKENS)
    assert _shard_hashes(copy) == _shard_hashes(out)


def test_an_unwritable_output_is_a_clear_error(synth_folders, tmp_path):
    (tmp_path / "data").write_text("a file where the data folder goes")
    with pytest.raises(ExportError, match=r"cannot write to .*"):  # overwrite: past the foreign-folder refusal
        export_release(synth_folders / "release", tmp_path, build_options(), min_tokens=MIN_TOKENS, overwrite=True)
    assert (tmp_path / "data").read_text() == "a file where the data folder goes"


def test_the_card_declares_both_configs_and_the_statistics(exported):
    out, _ = exported
    card = (out / "README.md").read_text()
    assert "config_name: full" in card and "config_name: mini" in card and "default: true" in card
    assert "Dropped collections:" in card and "@inproceedings" in card
    image = Image.open(io.BytesIO(next(iter(_first_image_bytes(out)))))
    assert image.width == 512


def _first_image_bytes(out):
    import pyarrow.parquet as pq

    table = pq.read_table(sorted((out / "data" / "mini").glob("train-*.parquet"))[0], columns=["image"])
    yield table.column("image")[0].as_py()["bytes"]


def test_the_card_has_the_hub_metadata_and_the_papers_config_names(exported):
    out, _ = exported
    data = DatasetCard.load(out / "README.md").data
    assert (data.license, data.license_name) == ("other", "nft1000") and data.license_link.startswith("https://")
    assert data.language == ["en"] and data.size_categories == ["n<1K"]
    assert "arxiv.org/abs/2402.16872" in DatasetCard.load(out / "README.md").text
    for alias, config in (("NFT1000", "full"), ("NFT1000mini", "mini")):  # nft1000's loaders take the paper's names
        assert (
            load_export(str(out), alias, split="test")["token_id"]
            == load_dataset(str(out), config, split="test")["token_id"]
        )


def test_the_card_is_true_plain_yaml_every_config_once_with_its_sizes_and_the_doi(exported, tmp_path):
    from modeling.separation.library import CONFIG_NAME
    from nft1000_dataset.card import DOI, SYNTHETIC_FIELD

    out = tmp_path / "export"
    shutil.copytree(exported[0], out)
    assert cli_main(["components", "--dataset", str(out), "--config", "full", "--out", str(out)]) == 0
    text = (out / "README.md").read_text()
    card = DatasetCard.load(out / "README.md")
    assert not re.search(r"[&*]id\d+", text.split("\n---\n")[0])  # no YAML anchors or aliases
    names = [config["config_name"] for config in card.data.configs]
    assert sorted(names) == ["components", "full", "mini"]  # each once; the paper's names are nft1000's aliases
    infos = {info["config_name"]: info for info in card.data.dataset_info}
    assert set(infos) == set(names)
    for config in ("full", "mini", CONFIG_NAME):
        loaded = load_dataset(str(out), config)
        for split in infos[config]["splits"]:  # sizes as datasets counts them: Arrow bytes, rows
            assert split["num_bytes"] == loaded[split["name"]].data.nbytes, (config, split)
            assert split["num_examples"] == len(loaded[split["name"]])
        files = sum(p.stat().st_size for p in (out / "data" / config).glob("*.parquet"))
        assert infos[config]["download_size"] == files
    assert "## The `components` config" in card.text and DOI in text and f"doi       = {{{DOI}}}" in text
    assert card.data.get(SYNTHETIC_FIELD)["seed"] == 0 and "synthetic" in card.data.tags  # made by nft1000 synth
    assert "A synthetic NFT1000-like release, not real NFTs" in card.text and "top 1,000 PFP" not in card.text


def test_push_names_the_repo_in_the_card_it_uploads(exported, tmp_path):
    import shutil

    from conftest import recorded_hub_pushes

    from nft1000_dataset.hub import push_release

    out, _ = exported
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    with recorded_hub_pushes() as pushed:
        push_release(copy, "someone/nft1000")
    card = pushed["files"]["README.md"].read_text()
    assert 'load_dataset("someone/nft1000", "full")' in card and "<this folder" not in card
    assert pushed["repo"] == ("someone/nft1000", "dataset")
    assert "collections.json" in pushed["files"] and not any(".nft1000_build" in f for f in pushed["files"])


def test_a_failed_push_leaves_the_local_folder_as_it_was(exported, tmp_path):
    import shutil

    from conftest import recorded_hub_pushes
    from huggingface_hub import HfApi

    from nft1000_dataset.hub import push_release

    copy = tmp_path / "export"
    shutil.copytree(exported[0], copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}

    def refused(self, *args, **kwargs):
        raise ConnectionError("the Hub is down")

    with recorded_hub_pushes(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(HfApi, "create_commit", refused)
        with pytest.raises(RuntimeError, match="rerun the same command"):
            push_release(copy, "someone/nft1000")
    assert {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_the_builder_and_nft1000_build_make_the_same_rows_from_an_official_partition(
    synth_folders, faults_manifest, tmp_path
):
    from nft1000.cli import main as cli_main

    raw = synth_folders / "release"
    faulty = sorted(entry["collection"] for entry in faults_manifest["collections"])  # filtered whole
    good = sorted(source.name for source in discover_collections(raw) if source.name not in faulty)
    partition = {"training_list": good[:2] + faulty, "validation_list": good[2:3], "test_list": good[3:]}
    partition_file = tmp_path / "partition.json"
    partition_file.write_text(json.dumps(partition))
    builder = NFT1000(
        config_name="full", data_dir=str(raw), cache_dir=str(tmp_path / "cache"), min_tokens=MIN_TOKENS,
        partition_file=str(partition_file), split_seed=5, image_width=96,
    )  # fmt: skip
    builder.download_and_prepare()
    built = builder.as_dataset()
    out = tmp_path / "out"
    assert cli_main(["build", "--raw", str(raw), "--out", str(out), "--config", "full", "--min-tokens",
                     str(MIN_TOKENS), "--partition-file", str(partition_file), "--split-seed", "5",
                     "--image-width", "96"]) == 0  # fmt: skip
    exported = load_dataset(str(out), "full")
    report = builder.build_report().to_dict()["splits"]
    for split, wanted in zip(("train", "validation", "test"), partition.values(), strict=True):
        kept = [name for name in wanted if report[split]["per_collection"].get(name, {}).get("kept")]
        assert sorted(set(built[split]["collection"])) == sorted(kept)  # the partition, minus what was filtered
        assert _rows(built[split]) == _rows(exported[split])
        assert built[split][0]["image"].width == 96
    with pytest.raises(ValueError, match="data_dir"):
        NFT1000(config_name="mini", cache_dir=str(tmp_path / "none")).download_and_prepare()
