"""A full disk loses nothing: `build` (into a new folder and over an existing export), `components`, a training
checkpoint and `push`'s local card, each run on a small tmpfs that fills up. Each ends in one line naming what
could not be written; what was there before still loads unchanged; a new folder holds nothing `load_dataset` would
take for a dataset; and after space is freed (the tmpfs made larger) a rerun resumes. Needs root to mount a
tmpfs, as in CI; skipped where it cannot."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import recorded_hub_pushes
from datasets import load_dataset
from test_drills import ENV, build_command, components_command, library_contents, train_command

from nft1000.cli import main as cli_main

pytestmark = pytest.mark.slow
NO_SPACE = "No space left on device"


class SmallDisk:
    """A tmpfs of `size` bytes at `path`; `resize` frees space (or takes it) without touching its files."""

    def __init__(self, path: Path):
        self.path = path

    def resize(self, size: int) -> None:
        pages = -(-size // 4096) * 4096
        subprocess.run(["mount", "-o", f"remount,size={pages}", str(self.path)], check=True, capture_output=True)

    def used(self) -> int:
        stats = os.statvfs(self.path)
        return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def folder_size(folder: Path) -> int:
    return sum(-(-p.stat().st_size // 4096) * 4096 for p in folder.rglob("*") if p.is_file())


def contents(folder: Path) -> dict[str, str]:
    """Every visible file's digest (the resume state is hidden)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def one_line_error(result: subprocess.CompletedProcess, command: str) -> str:
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{command}: error: ") and NO_SPACE in last, last
    return last


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=ENV, capture_output=True, text=True)


def test_a_build_into_a_new_folder_on_a_full_disk_leaves_no_dataset_and_resumes(synth_folders, small_disk, tmp_path):
    release = synth_folders / "release"
    reference = tmp_path / "reference"
    assert run(build_command(release, reference, "--config", "full")).returncode == 0
    out = small_disk.path / "out"
    small_disk.resize(folder_size(reference) // 2)
    last = one_line_error(run(build_command(release, out, "--config", "full")), "nft1000 build")
    assert ".parquet" in last  # names the shard it could not write
    assert contents(out) == {}  # only the hidden resume state
    with pytest.raises((FileNotFoundError, ValueError)):
        load_dataset(str(out))
    small_disk.resize(2 * folder_size(reference) + 2**20)
    rerun = run(build_command(release, out, "--config", "full"))
    assert rerun.returncode == 0 and "shards already written" in rerun.stderr, rerun.stderr[-2000:]
    assert contents(out) == contents(reference)


def test_a_build_over_an_export_on_a_full_disk_leaves_the_export_as_it_was(synth_folders, small_disk):
    release = synth_folders / "release"
    out = small_disk.path / "out"
    assert run(build_command(release, out, "--config", "full")).returncode == 0
    before, rows = contents(out), load_dataset(str(out), "full", split="train").to_dict()
    small_disk.resize(small_disk.used() + 64 * 1024)
    one_line_error(run(build_command(release, out, "--config", "mini")), "nft1000 build")  # a config added
    rebuild = build_command(release, out, "--config", "full", "--image-width", "256", "--overwrite")
    one_line_error(run(rebuild), "nft1000 build")  # the whole export replaced
    assert contents(out) == before
    assert load_dataset(str(out), "full", split="train").to_dict() == rows


def test_components_on_a_full_disk_keep_what_they_finished_and_resume(exported, small_disk, tmp_path):
    dataset, _ = exported
    reference = tmp_path / "reference"
    assert run(components_command(dataset, reference)).returncode == 0
    out = small_disk.path / "library"
    small_disk.resize(folder_size(reference) // 2)
    one_line_error(run(components_command(dataset, out)), "nft1000 components")
    manifest = out / "components_report.json"
    finished = json.loads(manifest.read_text()) if manifest.exists() else {}
    assert all((out / entry["file"]).is_file() for entry in finished.values())  # what the manifest lists is whole
    small_disk.resize(2 * folder_size(reference) + 2**20)
    assert run(components_command(dataset, out)).returncode == 0
    assert library_contents(out) == library_contents(reference)


def test_a_checkpoint_on_a_full_disk_leaves_the_last_one_and_resumes_to_the_same_weights(
    export_with_components, small_disk, tmp_path
):
    whole = tmp_path / "whole"
    assert run(train_command(export_with_components, whole)).returncode == 0
    out = small_disk.path / "run"
    first = whole / "checkpoint-4"
    assert first.is_dir()
    small_disk.resize(folder_size(first) * 3 // 2 + 512 * 1024)
    one_line_error(run(train_command(export_with_components, out)), "train_clip.py")
    checkpoints = sorted(p.name for p in out.glob("checkpoint-*"))
    assert checkpoints and not list(out.glob(".checkpoint-*")), sorted(p.name for p in out.iterdir())
    small_disk.resize(8 * folder_size(whole) + 2**20)
    assert run(train_command(export_with_components, out, "--resume-from-checkpoint", "latest")).returncode == 0
    expected = json.loads((whole / "eval_results.json").read_text())["fine-tuned"]
    assert json.loads((out / "eval_results.json").read_text())["fine-tuned"] == expected


def test_push_on_a_full_disk_leaves_the_local_card_as_it_was(exported, small_disk, capsys):
    out = small_disk.path / "export"
    shutil.copytree(exported[0], out)
    card = (out / "README.md").read_bytes()
    small_disk.resize(small_disk.used() + 4096)
    filler = out / ".filler"
    with open(filler, "wb") as handle, contextlib.suppress(OSError):  # whatever is left, taken
        handle.write(b"\0" * 2**20)
    with recorded_hub_pushes() as pushed:
        assert cli_main(["push", str(out), "--repo-id", "user/nft1000-mini"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("nft1000 push: error: ") and NO_SPACE in err, err
    assert (out / "README.md").read_bytes() == card and "files" not in pushed
