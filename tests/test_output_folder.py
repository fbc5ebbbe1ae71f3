"""Commands that write a folder refuse a non-empty one that is not their own earlier output (a typo in --out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nft1000.cli import main as cli_main
from nft1000.train_clip import main as train_main
from nft1000_io.output_folder import OutputFolderError, claim_output_folder


def someone_elses(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("not ours")
    return folder


def untouched(folder: Path) -> bool:
    return [p.name for p in folder.iterdir()] == ["thesis.tex"]


def test_a_folder_is_claimed_when_new_empty_or_its_own(tmp_path):
    claim_output_folder(tmp_path / "new", ["index.json"], "nft1000 index")
    (tmp_path / "empty").mkdir()
    claim_output_folder(tmp_path / "empty", ["index.json"], "nft1000 index")
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "checkpoint-20").mkdir()
    claim_output_folder(tmp_path / "own", ["checkpoint-*"], "training run")
    with pytest.raises(OutputFolderError, match=r"thesis\.tex.*nft1000 index.*--overwrite"):
        claim_output_folder(someone_elses(tmp_path / "theirs"), ["index.json"], "nft1000 index")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        claim_output_folder(tmp_path / "file", ["index.json"], "nft1000 index")


def test_build_refuses_a_foreign_folder_and_writes_there_with_overwrite(synth_folders, tmp_path, capsys):
    out = someone_elses(tmp_path / "out")
    raw = str(synth_folders / "release")
    build = ["build", "--raw", raw, "--out", str(out), "--config", "mini", "--min-tokens", "1"]
    assert cli_main(build) != 0
    assert "--overwrite" in capsys.readouterr().err and untouched(out)
    assert cli_main([*build, "--overwrite"]) == 0
    assert (out / "build_report.json").is_file() and (out / "thesis.tex").is_file()
    assert cli_main(build) == 0  # its own export now: a rerun resumes


def test_components_and_index_refuse_a_foreign_folder(exported, tmp_path, capsys):
    out = someone_elses(tmp_path / "library")
    assert cli_main(["components", "--dataset", str(exported), "--out", str(out)]) != 0
    assert cli_main(["index", "--model", "tiny", "--dataset", str(exported), "--out", str(out)]) != 0
    errors = capsys.readouterr().err
    assert "nft1000 components" in errors and "nft1000 index" in errors and untouched(out)


def test_training_refuses_a_foreign_output_dir_before_loading_anything(tmp_path):
    from nft1000.train_lora import main as lora_main

    out = someone_elses(tmp_path / "run")
    with pytest.raises(OutputFolderError, match="--overwrite_output_dir"):
        train_main(["--dataset", str(tmp_path / "no-such-dataset"), "--model", "tiny", "--output_dir", str(out)])
    with pytest.raises(OutputFolderError, match="--overwrite_output_dir"):
        lora_main(["--dataset", str(tmp_path / "no-such"), "--collection", "X", "--output_dir", str(out)])
    assert untouched(out)
