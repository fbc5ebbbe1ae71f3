"""Files the project writes are for sharing: they get the mode `open()` would give them under the user's umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from nft1000_io.atomic import atomic_write_text, current_umask


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_an_atomic_write_honours_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        assert current_umask() == umask
        atomic_write_text(tmp_path / "card.md", "text")
        with open(tmp_path / "plain.md", "w") as handle:
            handle.write("text")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "card.md").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "card.md").stat().st_mode) == stat.S_IMODE((tmp_path / "plain.md").stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_of_a_build_has_the_mode_of_the_umask(tmp_path, umask):
    def run(*args: str) -> None:
        command = [sys.executable, "-m", "nft1000.cli", *args]
        result = subprocess.run(command, capture_output=True, text=True, preexec_fn=lambda: os.umask(umask))
        assert result.returncode == 0, result.stderr[-2000:]

    run("synth", "--out", str(tmp_path / "synth"), "--collections", "3", "--tokens", "12")
    run("build", "--raw", str(tmp_path / "synth" / "release"), "--out", str(tmp_path / "out"), "--min-tokens", "5",
        "--pairs-per-collection", "6")  # fmt: skip
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {"README.md", "build_report.json", "collections.json"} <= {p.name for p in files}
    assert {p.relative_to(tmp_path): oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {
        p.relative_to(tmp_path): oct(0o666 & ~umask) for p in files
    }
