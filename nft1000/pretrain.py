"""A pretrained start that works offline: ``nft1000 pretrain``.

The paper fine-tunes a CLIP that already knows images and words (`openai/clip-vit-base-patch32`); offline there is
none, and the tiny CLIP starts from noise. This makes a stand-in at CPU scale: a tiny CLIP (its tokenizer trained
on the corpus's captions) trained without masking on a corpus the project synthesises, easy collections (about 35
trait values each, lossless) and real-like ones (hundreds of values, near colours, resampled pixel art), with a
corpus seed of its own so that its collections are never the ones evaluated (the demo's and the tests' use small
seeds; CryptoPunks are real). The result is a `save_pretrained` folder that ``train_clip.py --model_name_or_path
DIR`` and ``benchmarks/masking_ablation.py --model DIR`` start from; ``pretraining.json`` beside it names every
corpus collection, so an evaluation can check it shares none.

    nft1000 pretrain --out pretrained   # under 30 minutes on 2 CPU cores (BENCHMARKS.md)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nft1000_io.atomic import atomic_write_text
from nft1000_io.stages import Stages

PRETRAINING_FILE = "pretraining.json"


@dataclass(frozen=True)
class PretrainOptions:
    """The corpus and the run: `easy` and `real_like` collections of `tokens` tokens each, synthesised with
    `corpus_seed` and exported at `image_width` px; `steps` steps of batch `batch_size` at `image_size` px,
    without masking."""

    easy: int = 40
    real_like: int = 8
    tokens: int = 300
    corpus_seed: int = 7919
    image_width: int = 64
    steps: int = 600
    batch_size: int = 64
    learning_rate: float = 5e-4
    image_size: int = 32
    seed: int = 0
    num_proc: int = 2


def pretrain_clip(out: str | Path, options: PretrainOptions = PretrainOptions()) -> Path:
    """Synthesise the corpus under ``OUT/corpus``, export it (every pair for training), train the tiny CLIP
    without masking into ``OUT/model`` and write ``pretraining.json`` there; returns the model folder. A rerun
    reuses the stages done with the same options (``OUT/stages.json``)."""
    from tqdm.auto import tqdm

    from nft1000.train_clip import run
    from nft1000.training_run import scalar_config
    from nft1000_dataset.export import export_release
    from nft1000_dataset.plan import config_options
    from nft1000_dataset.release import discover_collections
    from nft1000_dataset.synth import synthesize

    out = Path(out)
    corpus, export, model = out / "corpus", out / "corpus-export", out / "model"
    # what the model depends on (not num_proc), secrets replaced: it goes into stages.json and pretraining.json
    settings = {name: value for name, value in scalar_config(options).items() if name != "num_proc"}
    corpus_settings = {name: settings[name] for name in ("easy", "real_like", "tokens", "corpus_seed")}
    export_settings = {**corpus_settings, "image_width": options.image_width}

    def synthesise() -> None:
        synthesize(corpus, options.easy, options.tokens, options.corpus_seed, num_proc=options.num_proc)
        synthesize(corpus, options.real_like, options.tokens, options.corpus_seed, num_proc=options.num_proc,
                   style="real-like", variant="resampled")  # fmt: skip

    def build() -> None:
        configs = {"full": config_options(split_ratios=(1.0, 0.0, 0.0), image_width=options.image_width)["full"]}
        export_release(corpus / "release", export, configs, min_tokens=options.tokens, num_proc=options.num_proc,
                       overwrite=True)  # fmt: skip

    def train() -> None:
        run(_train_config(export, model, options))
        names = sorted(source.name for source in discover_collections(corpus / "release"))
        atomic_write_text(model / PRETRAINING_FILE, json.dumps({"options": settings, "collections": names}, indent=2))

    stages = Stages(out, settings)
    with tqdm(total=3, desc="pretrain", unit="stage", disable=None) as progress:
        stages.run("synthesise the corpus", synthesise, progress, corpus_settings)
        stages.run("export the corpus", build, progress, export_settings)
        stages.run("train", train, progress)
    return model


def _train_config(export: Path, model: Path, options: PretrainOptions):
    """The pretraining run: the tiny CLIP on every corpus pair, no masking."""
    from nft1000.train_clip import TrainingConfig

    return TrainingConfig.of(
        dataset_name=str(export), dataset_config_name="full", model_name_or_path="tiny",
        tiny_image_size=options.image_size, output_dir=str(model), overwrite_output_dir=True, mask_prob=0.0,
        eval_split="", max_train_steps=options.steps, per_device_train_batch_size=options.batch_size,
        learning_rate=options.learning_rate, num_warmup_steps=options.steps // 20, seed=options.seed,
        report_to="none", logging_steps=max(1, options.steps // 20), checkpointing_steps=0,
        dataloader_num_workers=1, dataloader_persistent_workers=True,
    )  # fmt: skip


def corpus_collections(model: str | Path) -> list[str] | None:
    """The corpus collections a model from `pretrain_clip` saw, or None for any other model."""
    record = Path(model) / PRETRAINING_FILE
    return json.loads(record.read_text())["collections"] if record.is_file() else None
