"""The real CryptoPunks data from ../shared, converted to the release layout by its own converter: it builds, its
components are separated, and masking hides the attributes that describe the same pixels together."""

import subprocess
import sys

import numpy as np
import pytest
from datasets import load_dataset

from modeling.masking.masker import COVERED, DynamicMasker
from modeling.separation.job import separate_dataset
from modeling.separation.library import ComponentLibrary
from modeling.separation.pixels import matches
from modeling.separation.separate import SeparationParams
from nft1000_dataset.export import export_release
from nft1000_dataset.exported import load_all_splits
from nft1000_dataset.plan import BuildOptions
from nft1000_dataset.splits import read_partition_file

N_PUNKS = 600


@pytest.mark.slow
def test_cryptopunks_build_with_the_official_partition(shared_dir, tmp_path):
    converter = shared_dir / "realdata" / "cryptopunks" / "to_layout.py"
    raw = tmp_path / "raw"
    subprocess.run(
        [sys.executable, str(converter), "--out", str(raw), "--limit", str(N_PUNKS), "--workers", "2"], check=True
    )
    partition = read_partition_file(shared_dir / "realdata" / "nft1000" / "NFT1000_partitioning.json")
    options = {
        "full": BuildOptions(partition=partition, ignore_missing_collections=True),
        "mini": BuildOptions(partition=partition, ignore_missing_collections=True, pairs_per_collection=500),
    }
    reports = export_release(raw, tmp_path / "out", options, num_proc=2)  # default filter: >= 500 tokens
    assert reports["full"].split_total("train").kept == N_PUNKS
    assert reports["mini"].split_total("train").kept == 500
    train = load_dataset(str(tmp_path / "out"), "full", split="train")
    assert set(train["collection"]) == {"CRYPTOPUNKS"}
    assert train["token_id"][:12] == [str(i) for i in range(12)]
    row = train[1]
    assert row["image"].size == (512, 512) and row["release_caption"].startswith("A pixel art CryptoPunk")
    accessories = [a["value"] for a in row["attributes"] if a["trait_type"] == "accessory"]
    assert len(accessories) == int(next(a["value"] for a in row["attributes"] if a["trait_type"] == "accessory count"))
    assert row["caption"].startswith("An NFT from CRYPTOPUNKS with type: ")


@pytest.mark.slow
def test_cryptopunks_components_leave_the_canvas_and_the_accessory_count_alone(shared_dir, tmp_path):
    converter = shared_dir / "realdata" / "cryptopunks" / "to_layout.py"
    raw = tmp_path / "raw"
    subprocess.run([sys.executable, str(converter), "--out", str(raw), "--limit", "600", "--workers", "2"], check=True)
    export_release(raw, tmp_path / "out", {"full": BuildOptions()}, min_tokens=1, num_proc=2)
    dataset = load_all_splits(str(tmp_path / "out"), "full")
    [result] = separate_dataset(dataset, SeparationParams())
    canvas = np.asarray(dataset[0]["image"].convert("RGB"))[0, 0]  # the blue-grey every punk stands on
    assert len(result.components) > 50
    for component in result.components:  # no value takes the canvas: it is in every token, in no trait
        assert not matches(component.rgb[component.mask], canvas, 24).any(), component.key
    counts = {key: reason for key, reason in result.skipped.items() if key.startswith("accessory count=")}
    assert counts and set(counts.values()) == {"counts the token's 'accessory' traits: describes no pixels"}

    # one component chosen per token (mode "one", p = 1); punks' components share pixels (a beard or a smile drawn
    # over the head's outline): what the chosen one covers for the most part goes with it, and no phrase stays
    # over filled pixels
    masker = DynamicMasker(ComponentLibrary.from_results([result]), mask_prob=1.0, mode="one")
    several = 0
    for index in range(0, 600, 6):
        row = dataset[index]
        image = np.asarray(row["image"].convert("RGB"))
        sample = masker(image, row["collection"], row["attributes"], np.random.default_rng(index))
        for key, shown in masker.candidates(image, row["collection"], row["attributes"]).items():
            assert key in sample.masked or sample.pixels is None or sample.pixels[shown].mean() < COVERED
        several += len(sample.masked) > 1
    assert several >= 5
