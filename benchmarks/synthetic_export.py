"""Shared set-up of the benchmarks: a synthetic release, exported, loaded back as one Dataset."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from nft1000_dataset.export import export_release
from nft1000_dataset.exported import load_all_splits
from nft1000_dataset.plan import BuildOptions
from nft1000_dataset.synth import synthesize


def synthetic_export(
    root: Path, collections: int, tokens: int, seed: int = 0, num_proc: int = 2, **synth_options
) -> Dataset:
    """Synthesise under ``root/s`` (ground truth in ``root/s/ground_truth``; `synth_options` as `synthesize`
    takes them: style, variant, non_layered), export the full config under ``root/d`` and return all its
    splits."""
    synthesize(root / "s", collections, tokens, seed=seed, num_proc=num_proc, **synth_options)
    export_release(root / "s" / "release", root / "d", {"full": BuildOptions()}, min_tokens=1, num_proc=num_proc)
    return load_all_splits(str(root / "d"), "full")
