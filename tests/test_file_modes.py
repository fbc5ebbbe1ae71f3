"""Files the project writes are for sharing: they get the mode `open()` would give them under the user's umask."""

from __future__ import annotations

import json
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


def _modes(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): oct(stat.S_IMODE(p.stat().st_mode)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train_clip", "train_lora"])
def test_every_weight_a_training_run_writes_has_the_mode_of_the_umask(exported, tmp_path, script):
    """Weights (the model, a checkpoint's state, the LoRA file, the tiny base) are written by safetensors, which
    makes them 0600 whatever the umask unless the project gives them the user's mode."""
    umask, out = 0o002, tmp_path / "run"
    common = ["--dataset", str(exported[0]), "--config", "full", "--output-dir", str(out), "--max-train-steps", "2",
              "--checkpointing-steps", "1", "--report-to", "none"]  # fmt: skip
    if script == "train_clip":
        extra = ["--model", "tiny", "--tiny-image-size", "32", "--per-device-train-batch-size", "8", "--eval-split", "",
                 "--mask-prob", "0"]  # fmt: skip
    else:
        collection = json.loads((exported[0] / "collections.json").read_text())["full"]
        extra = ["--pretrained-model", "tiny", "--tiny-resolution", "32", "--collection", next(iter(collection)),
                 "--train_batch_size", "2", "--validation_steps", "100", "--num-validation-images", "0"]  # fmt: skip
    result = subprocess.run([sys.executable, "-m", f"nft1000.{script}", *common, *extra], capture_output=True,
                            text=True, preexec_fn=lambda: os.umask(umask))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    modes = _modes(out)
    weights = [name for name in modes if name.endswith(".safetensors")]
    assert any("checkpoint-" in name for name in weights) and any("checkpoint-" not in name for name in weights)
    assert modes == dict.fromkeys(modes, oct(0o666 & ~umask))
