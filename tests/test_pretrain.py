"""The offline pretrained start (issue 28): `nft1000 pretrain` writes a folder that `from_pretrained`, train_clip
and the masking ablation start from, and the ablation refuses to evaluate a collection the start was trained on."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

from nft1000.cli import main as cli_main
from nft1000.pretrain import PRETRAINING_FILE, corpus_collections
from nft1000.train_clip import main as train_main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrain")
    argv = ["pretrain", "--out", str(out), "--easy", "2", "--real-like", "1", "--tokens", "40", "--steps", "6",
            "--batch-size", "8", "--image-size", "32"]  # fmt: skip
    assert cli_main(argv) == 0
    return out / "model"


def test_the_pretrained_start_loads_with_from_pretrained_and_names_its_corpus(pretrained):
    model = CLIPModel.from_pretrained(pretrained)
    processor = CLIPProcessor.from_pretrained(pretrained)
    corpus = corpus_collections(pretrained)
    assert len(corpus) == 3 and any(name.startswith("Real ") for name in corpus)
    log = [json.loads(line) for line in (pretrained / "train_log.jsonl").read_text().splitlines()]
    assert max(record["step"] for record in log) == 6  # trained, for the steps asked
    inputs = processor(text=["a caption"], return_tensors="pt", padding=True)
    assert model.get_text_features(**inputs).pooler_output.shape[-1] == model.config.projection_dim


def test_a_rerun_with_the_same_options_reuses_the_model_whatever_its_worker_count(pretrained):
    before = (pretrained / "model.safetensors").stat().st_mtime_ns
    argv = ["pretrain", "--out", str(pretrained.parent), "--easy", "2", "--real-like", "1", "--tokens", "40",
            "--steps", "6", "--batch-size", "8", "--image-size", "32", "--num-proc", "1"]  # fmt: skip
    assert cli_main(argv) == 0
    assert (pretrained / "model.safetensors").stat().st_mtime_ns == before
    recorded = json.loads((pretrained / PRETRAINING_FILE).read_text())["options"]
    assert recorded["steps"] == 6 and "num_proc" not in recorded


def test_train_clip_fine_tunes_from_the_pretrained_start(pretrained, export_with_components, tmp_path):
    out = tmp_path / "fine-tuned"
    argv = ["--dataset", str(export_with_components), "--config", "full", "--model_name_or_path", str(pretrained),
            "--output-dir", str(out), "--per-device-train-batch-size", "8", "--max-train-steps", "2",
            "--mask-prob", "0.5", "--eval-split", "test", "--report-to", "none",
            "--checkpointing-steps", "0"]  # fmt: skip
    results = train_main(argv)
    start, tuned = CLIPModel.from_pretrained(pretrained), CLIPModel.from_pretrained(out)
    assert tuned.config.vision_config.image_size == start.config.vision_config.image_size == 32
    assert (
        CLIPProcessor.from_pretrained(out).tokenizer.get_vocab()
        == CLIPProcessor.from_pretrained(pretrained).tokenizer.get_vocab()
    )  # the start's tokenizer, not one trained on this dataset
    moved = [not torch.equal(a, b) for a, b in zip(start.parameters(), tuned.parameters(), strict=True)]
    assert any(moved) and "fine-tuned" in results


def _ablation(dataset: Path, model: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(ROOT / "benchmarks" / "masking_ablation.py"), "--dataset", str(dataset),
            "--model", str(model), "--ps", "0", "0.5", "--seeds", "0", "--steps", "2", "--batch-size", "8",
            "--workers", "0", "--budgets", "16", "--output", str(output),
            "--plot", str(output.with_suffix(".png")), *extra]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_the_ablation_starts_from_it_and_says_so(pretrained, export_with_components, tmp_path):
    done = _ablation(export_with_components, pretrained, tmp_path / "runs.json")
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert {run["start"] for run in runs} == {str(pretrained)} and len(runs) == 2
    assert f"start: {pretrained} (pretrained)" in done.stdout
    with Image.open(tmp_path / "runs.png") as plot:  # top-1 against the budget, drawn from the runs
        assert plot.format == "PNG" and plot.width > 300

    # --report-only: the stored arms' tables, whatever --ps asks, and nothing trained
    stored = (tmp_path / "runs.json").read_text()
    report = _ablation(export_with_components, pretrained, tmp_path / "runs.json", "--report-only", "--ps", "0.3")
    assert report.returncode == 0, report.stderr[-2000:]
    assert (tmp_path / "runs.json").read_text() == stored
    rows = [line for line in report.stdout.splitlines() if line.startswith("| 16 pairs | 16 |")]
    assert [row.split(" | ")[2:4] for row in rows] == [["0.0", "constant"], ["0.5", "constant"]]

    # an arm that masked nothing (the scarcity policy where components are plentiful) equals p = 0 on every seed:
    # the paired table says the seeds are level and runs no test on them
    plain = [run for run in runs if run["p"] == 0]
    (tmp_path / "runs.json").write_text(json.dumps(runs + [{**run, "p": 0.3, "policy": "scarcity"} for run in plain]))
    report = _ablation(export_with_components, pretrained, tmp_path / "runs.json", "--report-only", "--seeds", "0", "1")
    assert report.returncode == 0, report.stderr[-2000:]
    row = next(line for line in report.stdout.splitlines() if line.startswith("| 16 pairs | 0.3 | scarcity |"))
    assert row.split(" | ")[3:] == ["+0.0", "+0.0", "0 of 1, 1 level", "-", "- |"]


def test_the_ablation_refuses_collections_the_start_was_trained_on(pretrained, tmp_path):
    corpus_export = pretrained.parent / "corpus-export"
    done = _ablation(corpus_export, pretrained, tmp_path / "runs.json")
    assert done.returncode != 0 and "was pretrained on" in done.stderr
    assert not (tmp_path / "runs.json").exists()
    assert (pretrained / PRETRAINING_FILE).is_file()
