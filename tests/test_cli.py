import json

import pytest
from datasets import load_dataset

from nft1000.cli import main


def test_synth_then_build_with_dashed_and_underscored_flags(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "s"), "--collections", "3", "--tokens", "30", "--zip"]) == 0
    assert sorted(p.name for p in (tmp_path / "s" / "release").iterdir())[0].endswith(".zip")
    argv = ["build", "--raw", str(tmp_path / "s" / "release"), "--out", str(tmp_path / "d"), "--config", "mini"]
    argv += ["--min_tokens", "10", "--pairs-per-collection", "12", "--num_proc", "2", "--split-seed", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| split (mini) |" in printed and 'load_dataset("' in printed
    mini = load_dataset(str(tmp_path / "d"), "mini")
    assert sum(len(split) for split in mini.values()) == 36
    report = json.loads((tmp_path / "d" / "build_report.json").read_text())
    assert set(report) == {"mini"}


def test_a_partition_file_naming_absent_collections_fails_with_a_message(tmp_path, capsys):
    main(["synth", "--out", str(tmp_path / "s"), "--collections", "3", "--tokens", "30"])
    names = sorted(p.name for p in (tmp_path / "s" / "release").iterdir())
    partition = tmp_path / "partition.json"
    partition.write_text(
        json.dumps({"training_list": [*names[:2], "Ghost Collection"], "validation_list": [], "test_list": names[2:]})
    )
    argv = ["build", "--raw", str(tmp_path / "s" / "release"), "--out", str(tmp_path / "d")]
    argv += ["--partition-file", str(partition), "--min-tokens", "10"]
    assert main(argv) == 1
    assert "Ghost Collection" in capsys.readouterr().err
    assert main([*argv, "--ignore-missing-collections"]) == 0
    full = load_dataset(str(tmp_path / "d"), "full")
    assert set(full["train"]["collection"]) == set(names[:2])
    assert set(full["test"]["collection"]) == set(names[2:])


def test_push_offline_is_a_clear_error(exported, capsys):
    out, _ = exported  # conftest sets HF_HUB_OFFLINE=1
    assert main(["push", str(out), "--repo-id", "someone/nft1000"]) == 1
    assert "offline" in capsys.readouterr().err


def test_push_refuses_a_folder_that_is_not_an_export(tmp_path, capsys):
    assert main(["push", str(tmp_path), "--repo_id", "someone/nft1000"]) == 1
    assert "nft1000 build" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--num-proc", "--num_proc"])
def test_both_spellings_parse(flag):
    from nft1000.cli import build_parser

    args = build_parser().parse_args(["build", "--raw", "r", "--out", "o", flag, "3"])
    assert args.num_proc == 3


@pytest.mark.slow
def test_components_and_masking_preview_commands(exported, tmp_path, capsys):
    import shutil

    from PIL import Image

    out, _ = exported
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    argv = ["components", "--dataset", str(copy), "--split", "validation", "--out", str(copy)]
    assert main([*argv, "--positives", "16", "--min_support", "6"]) == 0
    assert "| collection | tokens | components |" in capsys.readouterr().out
    report = json.loads((copy / "components_report.json").read_text())
    assert report and all(entry["components"] > 0 for entry in report.values())
    assert {p.stem for p in (copy / "component_sheets").glob("*.png")} == set(report)
    grid = tmp_path / "grid.png"
    argv = ["preview-masking", "--dataset", str(copy), "--config", "full", "--split", "validation"]
    assert main([*argv, "--components", str(copy), "--out", str(grid), "--num-samples", "4"]) == 0
    assert Image.open(grid).width > 0
