import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nft1000_dataset.splits import PartitionError, assign_splits, read_partition_file, seeded_partition

collection_names = st.lists(st.text(min_size=1, max_size=10).filter(str.strip), min_size=0, max_size=60, unique=True)


@given(collection_names, st.integers(0, 2**16))
def test_seeded_split_is_a_partition_of_the_collections(names, seed):
    names = sorted({n.strip() for n in names})
    splits = seeded_partition(names, seed)
    assigned = splits["train"] + splits["validation"] + splits["test"]
    assert sorted(assigned) == sorted(names)  # every collection exactly once: no collection in two splits
    if len(names) >= 3:
        assert all(splits[s] for s in splits)
    assert seeded_partition(list(reversed(names)), seed) == splits


def test_seeded_split_follows_80_5_15():
    splits = seeded_partition([f"c{i}" for i in range(1000)], seed=3)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [800, 50, 150]


def _partition(tmp_path, data) -> str:
    path = tmp_path / "partition.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_partition_file_quirks_duplicates_and_non_ascii_names(tmp_path):
    path = _partition(
        tmp_path,
        {
            "training_list": ["UninterestedUnicorns", "G’EVOLs", "UninterestedUnicorns"],
            "validation_list": ["RSTLSS ✕ CrypToadz"],
            "test_list": ["TEST NFT"],
        },
    )
    partition = read_partition_file(path)
    assert partition == {
        "train": ["UninterestedUnicorns", "G’EVOLs"],
        "validation": ["RSTLSS ✕ CrypToadz"],
        "test": ["TEST NFT"],
    }


def test_a_name_in_two_lists_is_an_error(tmp_path):
    path = _partition(tmp_path, {"training_list": ["A"], "validation_list": [], "test_list": ["A"]})
    with pytest.raises(PartitionError, match="'A' is in both train and test"):
        read_partition_file(path)


def test_a_partition_name_absent_from_the_data_is_an_error_unless_told(tmp_path):
    partition = {"train": ["A", "Ghost"], "validation": [], "test": ["B"]}
    with pytest.raises(PartitionError, match=r"not in the data.*Ghost"):
        assign_splits(["A", "B", "C"], partition)
    splits, left_out = assign_splits(["A", "B", "C"], partition, ignore_missing=True)
    assert splits == {"train": ["A"], "validation": [], "test": ["B"]}
    assert left_out == ["C"]


def test_the_official_partition_file_reads(shared_dir):
    partition = read_partition_file(shared_dir / "realdata" / "nft1000" / "NFT1000_partitioning.json")
    assert [len(partition[s]) for s in ("train", "validation", "test")] == [800, 50, 150]
    assert "G’EVOLs" in partition["train"] + partition["validation"] + partition["test"]


def test_malformed_partition_files_name_the_file(tmp_path):
    path = _partition(tmp_path, {"train": []})
    with pytest.raises(PartitionError, match=r"partition\.json"):
        read_partition_file(path)
