"""Failure drills on real processes: training and export killed with SIGKILL and rerun, a full disk and a
read-only output folder, and the main job (`nft1000 demo`) end to end with its rerun."""

import hashlib
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from nft1000.cli import main as cli_main

pytestmark = pytest.mark.slow
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def shard_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.glob("data/*/*.parquet")}


def wait_for(condition, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the process ended (rc {process.returncode}) or timed out before the kill point")
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def train_command(dataset: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "nft1000.train_clip", "--dataset", str(dataset), "--config", "full", "--model", "tiny",
        "--tiny-image-size", "32", "--output-dir", str(out), "--per-device-train-batch-size", "16",
        "--max-train-steps", "16", "--checkpointing-steps", "4", "--learning-rate", "5e-4", "--mask-prob", "0.5",
        "--eval-split", "test", "--report-to", "none", "--logging-steps", "1", "--seed", "11", *extra,
    ]  # fmt: skip


def logged_steps(out: Path) -> list[int]:
    log = out / "train_log.jsonl"
    return [json.loads(line)["step"] for line in log.read_text().splitlines()] if log.is_file() else []


def test_training_killed_at_a_random_step_resumes_to_the_uninterrupted_result(export_with_components, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(train_command(export_with_components, whole), env=ENV, check=True, capture_output=True)
    killed = tmp_path / "killed"
    kill_after = random.Random(os.getpid()).randint(5, 14)
    process = subprocess.Popen(train_command(export_with_components, killed), env=ENV, stderr=subprocess.DEVNULL)
    wait_for(lambda: logged_steps(killed) and logged_steps(killed)[-1] >= kill_after, process)
    kill(process)
    assert not (killed / "model.safetensors").exists()
    resume = train_command(export_with_components, killed, "--resume-from-checkpoint", "latest")
    subprocess.run(resume, env=ENV, check=True, capture_output=True)
    expected = json.loads((whole / "eval_results.json").read_text())["fine-tuned"]
    assert json.loads((killed / "eval_results.json").read_text())["fine-tuned"] == expected
    weights, reference = load_file(killed / "model.safetensors"), load_file(whole / "model.safetensors")
    assert all((weights[name] == reference[name]).all() for name in reference), f"killed after step {kill_after}"


def build_command(release: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "nft1000.cli", "build", "--raw", str(release), "--out", str(out), "--min-tokens", "20",
        "--rows-per-shard", "4", "--pairs-per-collection", "25", *extra,
    ]  # fmt: skip


def test_an_export_killed_half_way_resumes_to_the_same_shards(synth_folders, tmp_path):
    release = synth_folders / "release"
    clean = tmp_path / "clean"
    subprocess.run(build_command(release, clean), env=ENV, check=True, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen(build_command(release, killed), env=ENV, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(list(killed.glob(".nft1000_build/full/shards/*.parquet"))) >= 3, process)
    kill(process)
    assert len(shard_hashes(killed)) < len(shard_hashes(clean))
    subprocess.run(build_command(release, killed), env=ENV, check=True, capture_output=True)
    assert shard_hashes(killed) == shard_hashes(clean)  # no shard missing, corrupt or duplicated
    assert not list(killed.glob("data/*/.*.tmp")) and not list(killed.glob(".nft1000_build/*/shards"))


def test_a_full_disk_is_a_clear_error_and_leaves_the_earlier_build_intact(synth_folders, tmp_path):
    out = tmp_path / "out"
    subprocess.run(build_command(synth_folders / "release", out, "--config", "full"), env=ENV, check=True,
                   capture_output=True)  # fmt: skip
    before = shard_hashes(out)

    def small_disk():  # files may not grow past 64 KiB: a write beyond fails as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run(
        build_command(synth_folders / "release", out, "--config", "mini", "--rows-per-shard", "1000"),
        env=ENV, capture_output=True, text=True, preexec_fn=small_disk,
    )  # fmt: skip
    assert result.returncode == 1
    assert "nft1000 build: error: cannot write" in result.stderr and "File too large" in result.stderr
    assert shard_hashes(out) == before and (out / "README.md").is_file()


def test_a_read_only_output_folder_is_a_clear_error(synth_folders, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("earlier output")
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root on a file system that supports it)")
    try:
        code = cli_main(build_command(synth_folders / "release", out)[3:])
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    assert code == 1
    assert (out / "notes.txt").read_text() == "earlier output" and sorted(p.name for p in out.iterdir()) == [
        "notes.txt"
    ]


def test_the_demo_runs_end_to_end_and_a_rerun_reuses_every_stage(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli_main(["demo", "--out", str(out), "--size", "tiny"]) == 0
    printed = capsys.readouterr().out
    assert "tiny CLIP, dynamic masking p = 0.5" in printed and "tiny CLIP, no masking" in printed
    for label in ("exported dataset", "model with masking", "retrieval report", "CVI report", "comparison table"):
        assert label in printed
    assert (out / "clip-masked" / "model.safetensors").is_file() and (
        out / "clip-plain" / "model.safetensors"
    ).is_file()
    # the budget comparison, on a real-like collection of its own: p = 0 and the default masking for each budget
    # and paired seed, evaluated on held-out tokens only; the default run is trained where its policy masks
    assert "Budgets, on a real-like collection (120 tokens" in printed and "default ahead on" in printed
    assert (out / "nft1000-real-like" / "components_report.json").is_file()
    assert list((out / "embeddings").glob("*.safetensors"))  # the eval cache lies in the demo's folder
    held_out = ["before training, held-out tokens of the training collections",
                "fine-tuned, held-out tokens of the training collections"]  # fmt: skip
    for pairs in (24, 64):
        assert f"{pairs} training pairs; the policy " in printed
        for seed in (0, 1):
            plain, default = (out / "data-scarce" / f"{pairs}-pairs-{arm}-seed{seed}" for arm in ("p0", "default"))
            assert list(json.loads((plain / "eval_results.json").read_text())) == held_out
            masked = [
                row["masked"] for row in json.loads((default / "masking.json").read_text())["collections"].values()
            ]
            assert (default / "eval_results.json").is_file() == any(masked)
        counts = [
            row["carried_occurrences"]
            for seed in (0, 1)
            for row in json.loads((out / "data-scarce" / f"{pairs}-pairs-default-seed{seed}" / "masking.json")
                                  .read_text())["collections"].values()
        ]  # fmt: skip
        assert f"carried by {min(counts):.1f}" in printed
    assert not re.search(r"carried by (\d+\.\d)-\1 pairs", printed)  # a spread whose ends round alike is one value
    stages = json.loads((out / "stages.json").read_text())
    assert len(stages) == 18
    start = time.monotonic()
    assert cli_main(["demo", "--out", str(out), "--size", "tiny"]) == 0
    assert capsys.readouterr().out.count("done before, reused") == 18
    assert json.loads((out / "stages.json").read_text()) == stages and time.monotonic() - start < 60


def components_command(dataset: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "nft1000.cli", "components", "--dataset", str(dataset), "--out", str(out),
            "--min-support", "4"]  # fmt: skip


def library_contents(out: Path) -> dict:
    """Each collection's manifest entry (without its timing) and its components' rows."""
    import pyarrow.parquet as pq

    report = json.loads((out / "components_report.json").read_text())
    return {
        name: ({k: v for k, v in entry.items() if k != "seconds"}, pq.read_table(out / entry["file"]).to_pylist())
        for name, entry in report.items()
    }


def test_components_killed_half_way_resume_to_the_same_library(exported, tmp_path):
    dataset, _ = exported
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(components_command(dataset, clean), env=ENV, check=True, capture_output=True)
    total = len(json.loads((clean / "components_report.json").read_text()))
    report = killed / "components_report.json"
    process = subprocess.Popen(components_command(dataset, killed), env=ENV, stderr=subprocess.DEVNULL)
    wait_for(lambda: report.is_file() and json.loads(report.read_text()), process)
    kill(process)
    finished = json.loads(report.read_text())
    assert 1 <= len(finished) < total
    stamps = {name: (killed / entry["file"]).stat().st_mtime_ns for name, entry in finished.items()}
    rerun = subprocess.run(components_command(dataset, killed), env=ENV, check=True, capture_output=True, text=True)
    assert f"{len(finished)} of {total} collections already separated: resuming" in rerun.stderr
    assert {name: (killed / finished[name]["file"]).stat().st_mtime_ns for name in finished} == stamps  # not redone
    assert library_contents(killed) == library_contents(clean)


def test_rebuilding_the_export_keeps_the_components_config(synth_folders, tmp_path):
    from datasets import load_dataset

    out = tmp_path / "out"
    subprocess.run(build_command(synth_folders / "release", out), env=ENV, check=True, capture_output=True)
    subprocess.run([*components_command(out, out), "--split", "validation"], env=ENV, check=True, capture_output=True)
    subprocess.run(build_command(synth_folders / "release", out), env=ENV, check=True, capture_output=True)
    assert "config_name: components" in (out / "README.md").read_text()
    assert load_dataset(str(out), "components", split="train").num_rows > 0
    assert load_dataset(str(out), "mini", split="validation").num_rows > 0
