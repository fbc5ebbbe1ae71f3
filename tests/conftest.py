"""Shared fixtures: real synthetic releases on disk (folders and zips) and their exports."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face import: the tests never use the network
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
if "HF_DATASETS_CACHE" not in os.environ:  # a fresh datasets cache per run: nothing stale, nothing left behind
    import atexit
    import shutil
    import tempfile

    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="nft1000-tests-cache-")
    atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nft1000_dataset.plan import BuildOptions
from nft1000_dataset.synth import synthesize

SHARED = Path(__file__).resolve().parents[2] / "shared"
N_COLLECTIONS = 4
N_TOKENS = 40
MIN_TOKENS = 20
MINI_PAIRS = 25
ROWS_PER_SHARD = 16


def build_options(**overrides) -> dict[str, BuildOptions]:
    common = {"rows_per_shard": ROWS_PER_SHARD, **overrides}
    return {"full": BuildOptions(**common), "mini": BuildOptions(pairs_per_collection=MINI_PAIRS, **common)}


@pytest.fixture(scope="session")
def synth_folders(tmp_path_factory) -> Path:
    """A synthetic release with every planted fault, one folder per collection."""
    out = tmp_path_factory.mktemp("synth_folders")
    synthesize(out, N_COLLECTIONS, N_TOKENS, seed=0, faults=True, num_proc=2)
    return out


@pytest.fixture(scope="session")
def synth_zips(tmp_path_factory) -> Path:
    """The same release (same seed) written as one zip per collection."""
    out = tmp_path_factory.mktemp("synth_zips")
    synthesize(out, N_COLLECTIONS, N_TOKENS, seed=0, faults=True, as_zip=True, num_proc=2)
    return out


@pytest.fixture(scope="session")
def faults_manifest(synth_folders) -> dict:
    return json.loads((synth_folders / "ground_truth" / "faults.json").read_text())


@pytest.fixture(scope="session")
def exported(tmp_path_factory, synth_folders):
    """The folder release exported with both configs: (out_dir, reports)."""
    from nft1000_dataset.export import export_release

    out = tmp_path_factory.mktemp("export")
    reports = export_release(synth_folders / "release", out, build_options(), min_tokens=MIN_TOKENS, num_proc=2)
    return out, reports


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    return SHARED


@pytest.fixture(scope="session")
def train_rows(exported):
    from datasets import load_dataset

    out, _ = exported
    return load_dataset(str(out), "full", split="train")


@pytest.fixture(scope="session")
def separated(train_rows):
    """Components separated from every training collection of the export (small support threshold)."""
    from modeling.images import RowImages
    from modeling.separation.separate import SeparationParams, separate_collection
    from nft1000_dataset.exported import rows_by_collection

    results = []
    for collection, rows in rows_by_collection(train_rows).items():
        attributes = [train_rows[i]["attributes"] for i in rows]
        params = SeparationParams(min_support=4)
        results.append(separate_collection(collection, attributes, RowImages(train_rows, rows), params))
    return results


@pytest.fixture(scope="session")
def library(separated):
    """The component library of `separated`."""
    from modeling.separation.library import ComponentLibrary

    return ComponentLibrary.from_results(separated)


@pytest.fixture(scope="session")
def tokenizer(train_rows):
    """A small tokenizer trained on the export's training captions."""
    from modeling.models.tokenizer import train_clip_tokenizer

    return train_clip_tokenizer(train_rows["caption"], vocab_size=400)


@pytest.fixture(scope="session")
def export_with_components(tmp_path_factory, exported, separated) -> Path:
    """A copy of the export with its component library written in as the ``components`` config."""
    import shutil

    from modeling.separation.library import save_library

    out, _ = exported
    copy = tmp_path_factory.mktemp("export_with_components") / "nft1000"
    shutil.copytree(out, copy)
    save_library(separated, copy)
    return copy


FAKE_HUB_TOKEN = "hf_nft1000FakeTokenMustNeverBeWritten0123"


@contextlib.contextmanager
def recorded_hub_pushes() -> Iterator[dict]:
    """huggingface_hub's HTTP calls stubbed: what a push would send (repo, files, card) is recorded instead."""
    from huggingface_hub import HfApi

    pushed: dict = {}

    def create_repo(self, repo_id, **kwargs):
        pushed["repo"] = (repo_id, kwargs.get("repo_type"))
        pushed["token"] = kwargs.get("token") or self.token
        return f"https://huggingface.co/{repo_id}"

    def create_commit(self, repo_id, operations, **kwargs):
        pushed["files"] = {op.path_in_repo: Path(op.path_or_fileobj) for op in operations}

    def validate_yaml(self, content, **kwargs):  # the Hub checks the card's metadata (a POST)
        pushed["card"] = content

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("huggingface_hub.hf_api.is_xet_available", lambda: False)
        patch.setattr(HfApi, "create_repo", create_repo)
        patch.setattr(HfApi, "create_commit", create_commit)
        patch.setattr(HfApi, "_validate_yaml", validate_yaml)
        yield pushed


def files_containing(folder: Path, secret: str) -> list[Path]:
    """Every file under `folder` (text or binary, hidden ones too) whose bytes contain `secret`."""
    needle = secret.encode()
    return [path for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory) -> Path:
    """An untrained tiny CLIP saved with save_pretrained (its tokenizer trained on two captions)."""
    from modeling.models.clip import build_tiny_clip

    folder = tmp_path_factory.mktemp("models") / "clip-masked"
    model, processor = build_tiny_clip(["a token with blue eyes", "a token with a red hat"] * 20)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
