"""Fine-tune CLIP on an exported NFT1000 with dynamic masking (paper, 5): ``accelerate launch train_clip.py``.

    accelerate launch train_clip.py --dataset_name demo/nft1000 --dataset_config_name mini --model tiny \\
        --output_dir clip-nft1000 --mask_prob 0.5 --max_train_steps 1000 --eval_steps 200

Flags follow the Hugging Face example scripts, with dashed aliases (``--output-dir``). The contrastive loss is
computed over the global batch of all processes (embeddings gathered with gradients). Checkpoints
(``--checkpointing_steps``) are `accelerator.save_state` folders; ``--resume_from_checkpoint latest`` continues
with the same data order and the same masks. The result is a `save_pretrained` folder (model, processor, model
card with the evaluation table) that `--push_to_hub` uploads.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from datasets import Image, load_dataset
from torch.utils.data import DataLoader
from transformers import HfArgumentParser, get_scheduler

from evaluation.embeddings import split_embeddings
from evaluation.protocols import HELD_OUT_TOKENS, HELD_OUT_VALIDATION, UNSEEN_COLLECTIONS, hold_out_tokens
from evaluation.report import RetrievalReport, whole_split_markdown
from modeling.masking.collator import MASK_SIZES, DynamicMaskingCollator
from modeling.masking.masker import FILLS, MODES, DynamicMasker
from modeling.masking.policy import (
    EPOCH_POLICIES,
    MASKING_FILE,
    POLICIES,
    RECOMMENDED_MASK_PROB,
    RECOMMENDED_POLICY,
    SCARCITY_THRESHOLD,
    carried_occurrences,
    scarcity_record,
    scarcity_scales,
)
from modeling.models.clip import DEFAULT_MODEL, TINY, TinyClipSpec, load_clip
from modeling.models.clip_training import (
    freeze_towers,
    global_batch_loss,
    parameter_groups,
)
from modeling.separation.library import ComponentLibrary
from nft1000.errors import run_command
from nft1000.model_card import clip_model_card
from nft1000.training_run import (
    BestWeights,
    StepProgress,
    TrackingAndHubArguments,
    TrainLog,
    checkpoint_if_due,
    epochs,
    parse_script_args,
    publish,
    removed_if_left_empty,
    resume,
    scalar_config,
    start_run,
)
from nft1000_dataset.exported import load_export
from nft1000_io.atomic import atomic_write_text, share_weights
from nft1000_io.text import echo

logger = logging.getLogger("train_clip")
MASKING_COLUMNS = ["collection", "attributes", "token_id"]  # what masking reads besides the image and caption
TOKENIZER_CAPTIONS = 50_000  # captions the tiny model's tokenizer is trained on
SCALAR_PREFIXES = {
    UNSEEN_COLLECTIONS: "eval",
    HELD_OUT_TOKENS: "eval_held_out_tokens",
    HELD_OUT_VALIDATION: "eval_validation_slice",
}  # of each protocol's scalars in the trackers and the step log
MODEL_UPLOAD_IGNORE = ["checkpoint-*/**", "train_clip/**", "**/.*.tmp"]  # resume state and tracker logs stay local


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=DEFAULT_MODEL,
        metadata={"aliases": ["--model"], "help": f"CLIP checkpoint name or folder, or `{TINY}` (offline)"},
    )
    tiny_image_size: int = field(default=64, metadata={"help": "image size of the tiny model"})
    attn_implementation: str | None = field(
        default="sdpa",
        metadata={
            "choices": ["sdpa", "eager", "flash_attention_2"],
            "help": "attention kernel (transformers'); flash_attention_2 needs flash-attn installed",
        },
    )
    freeze_vision_model: bool = False
    freeze_text_model: bool = False
    gradient_checkpointing: bool = False
    model_revision: str = field(
        default="main", metadata={"help": "the model version to use (branch name, tag name or commit id)"}
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "pretrained tokenizer name or path, if not the model's own"}
    )
    cache_dir: str | None = field(
        default=None, metadata={"help": "where to store the pretrained models and datasets downloaded from the Hub"}
    )


@dataclass
class DataArguments:
    dataset_name: str | None = field(
        default=None,
        metadata={
            "aliases": ["--dataset"],
            "help": "exported NFT1000 folder or Hub repo, or any image-caption dataset",
        },
    )
    train_file: str | None = field(
        default=None,
        metadata={"help": "instead of a dataset: a csv or json(lines) file of image paths (relative to the file's "
                  "folder) and captions; --image_column names the path column"},
    )  # fmt: skip
    validation_file: str | None = field(
        default=None, metadata={"help": "the same for evaluation (its rows are --eval_split's)"}
    )
    max_seq_length: int = field(
        default=77, metadata={"help": "captions are truncated to this many tokens (CLIP's text model holds 77)"}
    )
    dataset_config_name: str | None = field(
        default=None,
        metadata={"aliases": ["--config"], "help": "full or mini (default: the dataset's default config)"},
    )
    image_column: str = field(default="image", metadata={"help": "the dataset column holding the images"})
    caption_column: str = field(default="caption", metadata={"help": "the dataset column holding the captions"})
    streaming: bool = False
    train_split: str = "train"
    eval_split: str | None = field(default="validation", metadata={"help": "split evaluated; empty for none"})
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    holdout_tokens: float = field(
        default=0,
        metadata={
            "help": "tokens of every training collection (a fraction when < 1) never trained on and evaluated on: "
            "the held-out-token protocol, beside --eval_split's unseen collections"
        },
    )
    holdout_seed: int = field(default=0, metadata={"help": "seed of the held-out tokens (nft1000 eval takes it too)"})
    validation_holdout_tokens: float = field(
        default=0,
        metadata={
            "help": "of each training collection's held-out tokens, this many (a fraction when < 1) form a validation "
            "slice, evaluated every --eval_steps and read by --load_best_model_at_end; the rest are reported"
        },
    )
    components: str | None = field(
        default=None, metadata={"help": "folder or repo of the component library (default: the dataset)"}
    )
    mask_prob: float = field(
        default=RECOMMENDED_MASK_PROB,
        metadata={"help": "probability p of masking a component; 0 disables (the paper's is 0.5)"},
    )
    mask_policy: str = field(
        default=RECOMMENDED_POLICY,
        metadata={
            "choices": POLICIES,
            "help": "how p varies: constant (the paper's); decay (linearly to 0 over the run's epochs); scarcity "
            f"(decay in the collections whose components are carried by fewer than {SCARCITY_THRESHOLD:g} training "
            "pairs each on average, none in the others); mixed (half the rows of each epoch intact, the rest with "
            "p). decay and scarcity count epochs: a stream takes constant or mixed",
        },
    )
    mask_mode: str = field(default=DynamicMasker.mode, metadata={"choices": MODES})
    mask_fill: str = field(default=DynamicMasker.fill, metadata={"choices": FILLS})
    mask_at: str = field(
        default="resized",
        metadata={"choices": MASK_SIZES, "help": "mask at the model's image size or at full size (tiny pixel art)"},
    )
    dataloader_num_workers: int = 0
    dataloader_pin_memory: bool = field(default=True, metadata={"help": "page-locked batches (faster copies to GPU)"})
    dataloader_persistent_workers: bool = field(
        default=False, metadata={"help": "keep workers (and their caches of resized images) between epochs"}
    )
    dataloader_prefetch_factor: int | None = field(default=None, metadata={"help": "batches each worker prepares"})
    shuffle_buffer_size: int = field(default=10_000, metadata={"help": "shuffle buffer when streaming"})


@dataclass
class TrainArguments(TrackingAndHubArguments):
    output_dir: str
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "write into a non-empty output_dir that holds no earlier run"}
    )
    per_device_train_batch_size: int = 64
    per_device_eval_batch_size: int = 256
    learning_rate: float = 5e-5
    weight_decay: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    adam_epsilon: float = 1e-6
    max_grad_norm: float = 1.0
    optim: str = field(
        default="adamw_torch_fused",
        metadata={"choices": ["adamw_torch_fused", "adamw_torch"], "help": "AdamW, fused into one kernel or not"},
    )
    tf32: bool = field(default=False, metadata={"help": "TF32 matmuls for the float32 parts (Ampere or newer)"})
    torch_compile: bool = field(default=False, metadata={"help": "compile the model with torch.compile"})
    torch_compile_backend: str = field(default="inductor", metadata={"help": "torch.compile backend"})
    num_train_epochs: float = 3.0
    max_train_steps: int | None = None
    gradient_accumulation_steps: int = 1
    lr_scheduler_type: str = "cosine"
    num_warmup_steps: int = field(default=0, metadata={"aliases": ["--warmup_steps", "--warmup-steps"]})
    mixed_precision: str | None = field(default=None, metadata={"choices": ["no", "fp16", "bf16"]})
    seed: int = 42
    logging_steps: int = 10
    eval_steps: int | None = None
    load_best_model_at_end: bool = field(
        default=False,
        metadata={"help": "end on the weights of the best periodic evaluation of the validation slice"},
    )
    metric_for_best_model: str = field(
        default="text_to_image/paired/top1", metadata={"help": "direction/target/topk read for the best weights"}
    )
    checkpointing_steps: int | None = field(default=None, metadata={"aliases": ["--save_steps", "--save-steps"]})
    checkpoints_total_limit: int | None = None
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "a checkpoint folder or `latest`"})


GROUPS = (ModelArguments, DataArguments, TrainArguments)


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    return parse_script_args(HfArgumentParser(GROUPS, prog="train_clip.py"), argv)


@dataclass
class TrainingConfig:
    """One training run, typed: the three groups of settings the script's flags fill. Built from flags
    (`from_flags`, what `main` does) or from settings by name (`of`, what `nft1000 pretrain`, the demo and the
    masking ablation do); `run` trains it."""

    model: ModelArguments
    data: DataArguments
    training: TrainArguments

    @classmethod
    def from_flags(cls, argv: list[str] | None = None) -> TrainingConfig:
        return cls(*parse_args(argv))

    @classmethod
    def of(cls, **settings) -> TrainingConfig:
        """``TrainingConfig.of(dataset_name=..., model_name_or_path="tiny", output_dir=..., max_train_steps=200)``:
        each setting goes to the group that has it; a name no group has is an error naming the close ones."""
        names = [{f.name for f in fields(group)} for group in GROUPS]
        grouped: list[dict] = [{} for _ in GROUPS]
        for name, value in settings.items():
            index = next((i for i, group in enumerate(names) if name in group), None)
            if index is None:
                close = difflib.get_close_matches(name, sorted(set().union(*names)), n=3)
                raise TypeError(
                    f"train_clip has no setting {name!r}" + (f" (close: {', '.join(close)})" if close else "")
                )
            choices = next(f for f in fields(GROUPS[index]) if f.name == name).metadata.get("choices")
            if choices is not None and value not in choices:
                raise ValueError(f"train_clip's {name} is one of {', '.join(map(str, choices))}, not {value!r}")
            grouped[index][name] = value
        return cls(*(group(**values) for group, values in zip(GROUPS, grouped, strict=True)))


def _columns(dataset, data: DataArguments, masking: bool, optional: tuple[str, ...] = ()):
    """The image and caption columns (renamed ``image`` and ``caption``), the masking columns when `masking`
    (an error naming what is missing otherwise), and those of `optional` that the dataset has."""
    names = dataset.column_names or []
    wanted = [data.image_column, data.caption_column] + (MASKING_COLUMNS if masking else [])
    missing = [c for c in wanted if c not in names]
    if missing:
        masking_columns = set(missing) & set(MASKING_COLUMNS)
        why = " (dynamic masking needs them; --mask_prob 0 trains without)" if masking_columns else ""
        raise ValueError(f"{data.dataset_name or data.train_file}: no column {missing} (columns: {names}){why}")
    dataset = dataset.select_columns(list(dict.fromkeys(wanted + [c for c in optional if c in names])))
    renames = {old: new for old, new in ((data.image_column, "image"), (data.caption_column, "caption")) if old != new}
    return dataset.rename_columns(renames) if renames else dataset


def load_split(data: DataArguments, split: str, cache_dir: str | None, streaming: bool = False):
    """One split of `data`: of the dataset, or (``--train_file``/``--validation_file``, split ``validation``)
    of a csv or json file whose image column holds paths, relative to the file's folder."""
    if data.dataset_name:
        return load_export(
            data.dataset_name, data.dataset_config_name, split=split, streaming=streaming, cache_dir=cache_dir
        )
    path = Path(data.validation_file if split == "validation" else data.train_file)
    extension = {".csv": "csv", ".json": "json", ".jsonl": "json"}.get(path.suffix)
    if extension is None:
        raise ValueError(f"{path}: --train_file and --validation_file are .csv, .json or .jsonl files")
    rows = load_dataset(extension, data_files=str(path), split="train", cache_dir=cache_dir, streaming=streaming)
    if data.image_column not in (rows.column_names or []):
        raise ValueError(f"{path}: no column {data.image_column!r} of image paths (columns: {rows.column_names})")
    rows = rows.map(lambda row: {data.image_column: str(path.parent / row[data.image_column])})
    return rows.cast_column(data.image_column, Image())


def check_data_arguments(data: DataArguments) -> None:
    """A dataset or files, not both; an evaluation split only where there is one to read."""
    if bool(data.dataset_name) == bool(data.train_file):
        raise ValueError("give --dataset_name or --train_file (with --validation_file for evaluation), one of them")
    if data.validation_file and not data.train_file:
        raise ValueError("--validation_file goes with --train_file; a dataset's evaluation split is --eval_split")
    if data.train_file and data.eval_split and not data.validation_file:
        data.eval_split = None
    elif data.validation_file:
        data.eval_split = "validation"


def load_splits(data: DataArguments, seed: int, cache_dir: str | None = None):
    """The training split (less its held-out tokens; a seeded subset of the rest when `max_train_samples`) and
    the evaluation sets by protocol (`evaluation.protocols`): the evaluation split's rows, the held-out tokens."""
    check_data_arguments(data)
    train = load_split(data, data.train_split, cache_dir, data.streaming)
    held_out = validation = None
    if data.validation_holdout_tokens and not data.holdout_tokens:
        raise ValueError("--validation_holdout_tokens is a slice of the held-out tokens: give --holdout_tokens too")
    if data.holdout_tokens:
        if data.streaming:
            raise ValueError("--holdout_tokens needs the whole training split: drop --streaming")
        train, held_out = hold_out_tokens(train, data.holdout_tokens, data.holdout_seed)
        held_out = _columns(held_out, data, masking=False, optional=("collection", "attributes", "token_id"))
        if data.validation_holdout_tokens:
            held_out, validation = hold_out_tokens(held_out, data.validation_holdout_tokens, data.holdout_seed + 1)
    train = _columns(train, data, masking=data.mask_prob > 0).cast_column("image", Image(decode=False))
    if data.max_train_samples is not None:
        if data.streaming:
            train = train.take(data.max_train_samples)
        else:
            train = train.shuffle(seed=seed).select(range(min(data.max_train_samples, len(train))))
    if data.streaming:
        train = train.shuffle(seed=seed, buffer_size=data.shuffle_buffer_size)
    evaluation = None
    if data.eval_split:
        evaluation = load_split(data, data.eval_split, cache_dir)
        # collections and attributes, where the dataset has them, give per-collection and attribute-exact results
        evaluation = _columns(evaluation, data, masking=False, optional=("collection", "attributes"))
        if data.max_eval_samples is not None:
            evaluation = evaluation.shuffle(seed=seed).select(range(min(data.max_eval_samples, len(evaluation))))
    evaluations = {UNSEEN_COLLECTIONS: evaluation, HELD_OUT_TOKENS: held_out, HELD_OUT_VALIDATION: validation}
    return train, {protocol: rows for protocol, rows in evaluations.items() if rows is not None}


def training_captions(train, streaming: bool) -> list[str]:
    if not streaming:
        return train["caption"]
    return [row["caption"] for row in train.select_columns(["caption"]).take(TOKENIZER_CAPTIONS)]


def evaluate_model(model, processor, dataset, batch_size: int) -> RetrievalReport:
    return RetrievalReport.from_embeddings(split_embeddings(model, processor, dataset, batch_size=batch_size))


def result_label(stage: str, protocol: str) -> str:
    """`stage` ("before training", "fine-tuned") for the paper's protocol, else with the protocol named."""
    return stage if protocol == UNSEEN_COLLECTIONS else f"{stage}, {protocol}"


def main(argv: list[str] | None = None) -> dict:
    """The script: parse the flags, then `run` them."""
    return run(TrainingConfig.from_flags(argv))


def run(config: TrainingConfig) -> dict:
    """The one way to drive a training run (the script, `nft1000 pretrain`, the demo and the ablation): train,
    evaluate and save; a run that fails before writing leaves no folder."""
    with removed_if_left_empty(Path(config.training.output_dir)):
        return train(config.model, config.data, config.training)


def train(model_args: ModelArguments, data_args: DataArguments, args: TrainArguments) -> dict:
    """One training run, step by step; returns the evaluation results and the step of the weights saved."""
    output_dir = Path(args.output_dir)
    # 1. the accelerator: processes, precision, trackers, seeds, the output folder claimed
    cpu_processes = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.accelerator.is_available()  # gloo
    accelerator = start_run(
        output_dir,
        args.seed,
        args.overwrite_output_dir,
        cpu=cpu_processes,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
    )
    # 2. data: the training pairs, the evaluation sets by protocol, the component library (before any model loads:
    #    a missing library is reported at once)
    train, evaluations = load_splits(data_args, args.seed, model_args.cache_dir)
    library = component_library(data_args, train)
    check_run(data_args, args, train, evaluations, accelerator.num_processes)
    # 3. the model and its processor
    model, processor = load_model(model_args, data_args, train)
    # 4. the masking collator and the loader
    occurrences = carried_by_pairs(library, train) if data_args.mask_policy == "scarcity" and library else None
    collator = make_collator(processor, library, train, data_args, args, occurrences)
    loader = make_loader(train, collator, data_args, args)
    # 5. the optimizer and the learning-rate schedule, prepared by accelerate
    model, optimizer, loader, scheduler, steps_per_epoch, max_train_steps = prepare_optimization(
        accelerator, model, loader, data_args, args
    )
    # 6. trackers, the step log, resuming, the evaluation before training
    hyperparameters = scalar_config(model_args, data_args, args)
    accelerator.init_trackers("train_clip", config=hyperparameters)
    log = TrainLog(output_dir / "train_log.jsonl", accelerator.is_main_process)
    completed_steps, first_epoch, skip_batches = resume(
        accelerator, args.resume_from_checkpoint, output_dir, steps_per_epoch, args.gradient_accumulation_steps
    )
    unwrapped = accelerator.unwrap_model(model)
    evaluator = Evaluator(accelerator, processor, evaluations, args.per_device_eval_batch_size, log)
    results = evaluator.before_training(unwrapped) if completed_steps == 0 else {}
    # 7. the training loop
    progress = StepProgress(accelerator, log, max_train_steps, completed_steps, args.logging_steps)
    model.train()

    def logged() -> dict:  # read when a record is due only
        return {"lr": scheduler.get_last_lr()[0], "logit_scale": unwrapped.logit_scale.exp().item()}

    for epoch, batches in epochs(accelerator, loader, collator, first_epoch, skip_batches):
        if completed_steps >= max_train_steps:
            break
        for batch in batches:
            progress.add_loss(contrastive_step(accelerator, model, unwrapped, batch, optimizer, scheduler, args))
            if not accelerator.sync_gradients:
                continue
            completed_steps += 1
            progress.step(completed_steps, epoch, logged)
            checkpoint_if_due(
                accelerator, output_dir, completed_steps, args.checkpointing_steps, args.checkpoints_total_limit
            )
            if args.eval_steps and completed_steps % args.eval_steps == 0 and completed_steps < max_train_steps:
                evaluator.periodic(unwrapped, completed_steps, args.metric_for_best_model)  # the last one follows
            if completed_steps >= max_train_steps:
                break
    seconds = progress.close()
    # 8. the final evaluation (on the best weights with --load_best_model_at_end), then save, card and push
    final, best_step = evaluator.fine_tuned(
        unwrapped, completed_steps, args.metric_for_best_model, args.load_best_model_at_end
    )
    results.update(final)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        run = {"train_rows": None if data_args.streaming else len(train), "steps": completed_steps, "seconds": seconds}
        run["carried_occurrences"] = occurrences
        save_model(unwrapped, processor, results, model_args, data_args, args, hyperparameters, run)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return {**results, "best_step": best_step}


def component_library(data: DataArguments, train) -> ComponentLibrary | None:
    """The component library masking reads (None without masking), checked to cover the training collections."""
    if data.mask_prob == 0:
        return None
    where = data.components or data.dataset_name
    library = ComponentLibrary.load(where, data.dataset_name)
    if not data.streaming:  # a stream's collections are known only by reading it through
        collections = train.unique("collection")
        library.check_coverage(
            collections, data.dataset_name, where, "train with --mask_prob 0", "training collections"
        )
    return library


def check_run(data: DataArguments, args: TrainArguments, train, evaluations: dict, processes: int) -> None:
    """Refuse, before any model loads, what the run cannot do with these data."""
    global_batch = args.per_device_train_batch_size * processes
    if not data.streaming and len(train) < global_batch:
        raise ValueError(f"{len(train)} training pairs is less than one global batch ({global_batch})")
    if data.streaming and args.max_train_steps is None:
        raise ValueError("--streaming needs --max_train_steps (a stream has no length)")
    if data.streaming and data.mask_policy in EPOCH_POLICIES and data.mask_prob > 0:
        raise ValueError(
            f"--mask_policy {data.mask_policy} counts the training split's epochs and pairs, which a stream does not "
            "have: pass --mask_policy constant or mixed with --streaming, or --mask_prob 0"
        )
    if args.load_best_model_at_end and HELD_OUT_VALIDATION not in evaluations:
        raise ValueError("--load_best_model_at_end reads the validation slice: give --validation_holdout_tokens")


def load_model(model_args: ModelArguments, data: DataArguments, train):
    """The CLIP model and processor (the tiny one built from its config, its tokenizer trained on the training
    captions), the towers frozen and the text length set as asked."""
    captions = training_captions(train, data.streaming) if model_args.model_name_or_path == TINY else None
    model, processor = load_clip(
        model_args.model_name_or_path,
        captions,
        TinyClipSpec(image_size=model_args.tiny_image_size),
        model_args.attn_implementation,
        revision=model_args.model_revision,
        cache_dir=model_args.cache_dir,
        tokenizer_name=model_args.tokenizer_name,
    )
    positions = model.config.text_config.max_position_embeddings
    if data.max_seq_length > positions:
        raise ValueError(f"--max_seq_length {data.max_seq_length}: the text model holds {positions} tokens")
    processor.tokenizer.model_max_length = data.max_seq_length  # saved with the processor
    freeze_towers(model, vision=model_args.freeze_vision_model, text=model_args.freeze_text_model)
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model, processor


def make_collator(
    processor, library, train, data: DataArguments, args: TrainArguments, occurrences: dict[str, float] | None = None
) -> DynamicMaskingCollator:
    """The masking collator with its policy: the planned epochs for ``decay`` and ``scarcity``, and for
    ``scarcity`` the collections masked by their `occurrences` (`carried_by_pairs`)."""
    return DynamicMaskingCollator(
        processor,
        library,
        mask_prob=data.mask_prob,
        mask_policy=data.mask_policy,
        num_epochs=_planned_epochs(len(train), args) if data.mask_policy in EPOCH_POLICIES else None,
        collection_scale=None if occurrences is None else scarcity_scales(occurrences),
        mode=data.mask_mode,
        fill=data.mask_fill,
        mask_at=data.mask_at,
        seed=args.seed,
        max_length=data.max_seq_length,
    )


def make_loader(train, collator: DynamicMaskingCollator, data: DataArguments, args: TrainArguments) -> DataLoader:
    workers = data.dataloader_num_workers
    return DataLoader(
        train,
        batch_size=args.per_device_train_batch_size,
        shuffle=not data.streaming,
        drop_last=True,  # a contrastive batch needs its full set of negatives, and equal sizes on every process
        collate_fn=collator,
        num_workers=workers,
        pin_memory=data.dataloader_pin_memory and torch.accelerator.is_available(),
        persistent_workers=data.dataloader_persistent_workers and workers > 0,
        prefetch_factor=data.dataloader_prefetch_factor if workers else None,
    )


def prepare_optimization(accelerator, model, loader, data: DataArguments, args: TrainArguments) -> tuple:
    """AdamW (no decay on biases, norms, embeddings and the temperature) and the schedule, prepared with the model
    and loader: (model, optimizer, loader, scheduler, optimizer steps per epoch or None for a stream, steps)."""
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if args.torch_compile:
        model.compile(backend=args.torch_compile_backend)  # in place: the module, its names and saving unchanged
    optimizer = torch.optim.AdamW(
        parameter_groups(model, args.weight_decay),
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
        fused=args.optim == "adamw_torch_fused",
    )
    model, prepared_optimizer, loader = accelerator.prepare(model, optimizer, loader)
    # optimizer steps per epoch from this process's share of the batches (a stream has no length)
    steps_per_epoch = None if data.streaming else math.ceil(len(loader) / args.gradient_accumulation_steps)
    max_train_steps = args.max_train_steps or math.ceil(args.num_train_epochs * steps_per_epoch)
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer=optimizer,  # the torch optimizer, which accelerate matches to its wrapper
        num_warmup_steps=args.num_warmup_steps * accelerator.num_processes,
        num_training_steps=max_train_steps * accelerator.num_processes,
    )
    return model, prepared_optimizer, loader, accelerator.prepare(scheduler), steps_per_epoch, max_train_steps


def contrastive_step(accelerator, model, unwrapped, batch: dict, optimizer, scheduler, args: TrainArguments):
    """One batch: the loss over the global batch, backward, and (where gradients sync) clipping, the optimizer
    and schedule steps and the temperature clamped to CLIP's bound; returns the loss."""
    with accelerator.accumulate(model):
        output = model(**batch)
        loss = global_batch_loss(output.image_embeds, output.text_embeds, unwrapped.logit_scale)
        accelerator.backward(loss)
        if accelerator.sync_gradients and args.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    if accelerator.sync_gradients:
        with torch.no_grad():
            unwrapped.logit_scale.clamp_(0, math.log(100))
    return loss


def _planned_epochs(train_rows: int, args: TrainArguments) -> int:
    """The epochs the run will start: --max_train_steps over the optimizer steps of an epoch, else the epochs."""
    batches = train_rows // args.per_device_train_batch_size  # per process, as accelerate shards them
    steps_per_epoch = max(1, batches // args.gradient_accumulation_steps)
    if args.max_train_steps:
        return math.ceil(args.max_train_steps / steps_per_epoch)
    return math.ceil(args.num_train_epochs)


def planned_occurrences(config: TrainingConfig) -> dict[str, float] | None:
    """The scarcity policy's count per training collection (`carried_by_pairs`) that the run `config` would use,
    read without training; None where the run would not use the policy."""
    data = config.data
    if data.mask_policy != "scarcity" or data.mask_prob == 0:
        return None
    train, _ = load_splits(data, config.training.seed, config.model.cache_dir)
    return carried_by_pairs(component_library(data, train), train)


def carried_by_pairs(library: ComponentLibrary, train) -> dict[str, float]:
    """How many training pairs carry each component of each training collection, on average
    (`modeling.masking.policy.carried_occurrences`), with the scarcity policy's decision for each logged."""
    rows = train.select_columns(["collection", "attributes"]).iter(batch_size=10_000)
    carried = (
        (name, [(a["trait_type"], a["value"]) for a in attributes])
        for batch in rows
        for name, attributes in zip(batch["collection"], batch["attributes"], strict=True)
    )
    names = set(train.unique("collection"))
    occurrences = carried_occurrences({name: library.keys(name) for name in names}, carried)
    scales = scarcity_scales(occurrences)
    logger.info(
        "scarcity policy: %d of %d training collections masked (components carried by fewer than %g pairs each)",
        sum(scales.values()), len(scales), SCARCITY_THRESHOLD,
    )  # fmt: skip
    for name in sorted(scales):
        verdict = "masked" if scales[name] else "intact"
        logger.info("  %s: components carried by %.1f training pairs each: %s", name, occurrences[name], verdict)
    return occurrences


def _metric(report: RetrievalReport, name: str) -> float:
    """One whole-split score of `report`, named ``direction/target/topk``."""
    direction, target, k = name.split("/")
    return report["whole_split"][direction][target][k]


class Evaluator:
    """The evaluation sets by protocol, evaluated on the main process and logged to the trackers and the step log;
    the validation slice's scores pick the best weights (``--load_best_model_at_end``)."""

    def __init__(self, accelerator, processor, evaluations: dict, batch_size: int, log: TrainLog):
        self.accelerator, self.processor, self.evaluations = accelerator, processor, evaluations
        self.batch_size, self.log, self.best = batch_size, log, BestWeights()
        self.last: dict[str, RetrievalReport | None] = {}

    def evaluate(self, model, protocol: str, step: int) -> RetrievalReport | None:
        """Retrieval top-k on one protocol's rows (None on the other processes)."""
        report = None
        if self.accelerator.is_main_process:
            report = evaluate_model(model, self.processor, self.evaluations[protocol], self.batch_size)
            scalars = report.scalars(SCALAR_PREFIXES[protocol])
            self.accelerator.log(scalars, step=step)
            self.log.write({"step": step, **scalars})
            self.accelerator.print(f"step {step}, {protocol}: {report.summary()}")
        self.accelerator.wait_for_everyone()
        return report

    def before_training(self, model) -> dict:
        return {result_label("before training", p): self.evaluate(model, p, 0) for p in self.evaluations}

    def periodic(self, model, step: int, metric: str, protocols: tuple[str, ...] | None = None) -> None:
        """Every protocol at `step` (only the validation slice where there is one: the held-out tokens it was cut
        from are the test, evaluated at the end; or those of `protocols`); the validation slice's score offered to
        the best weights; the reports kept in `last`."""
        if protocols is None:
            test = HELD_OUT_TOKENS if HELD_OUT_VALIDATION in self.evaluations else None
            protocols = tuple(protocol for protocol in self.evaluations if protocol != test)
        for protocol in protocols:
            self.last[protocol] = report = self.evaluate(model, protocol, step)
            if protocol == HELD_OUT_VALIDATION and report is not None:
                self.best.offer(model, _metric(report, metric), step)

    def fine_tuned(self, model, step: int, metric: str, load_best: bool) -> tuple[dict, int]:
        """The end of the run: the validation slice (the last step is a candidate too), then the best weights
        restored into `model` when `load_best`, then the other protocols on them; (results, the weights' step)."""
        results, best_step = {}, step
        if HELD_OUT_VALIDATION in self.evaluations:
            self.periodic(model, step, metric, protocols=(HELD_OUT_VALIDATION,))
            results[result_label("fine-tuned", HELD_OUT_VALIDATION)] = self.last[HELD_OUT_VALIDATION]
        if load_best and self.best.state is not None:
            best_step = self.best.restore(model)
            self.accelerator.print(f"best weights: step {best_step} ({metric} {self.best.score:.1f})")
        for protocol in self.evaluations:
            if protocol != HELD_OUT_VALIDATION:
                results[result_label("fine-tuned", protocol)] = self.evaluate(model, protocol, step)
        return results, best_step


def fine_tuned(reports: dict) -> dict:
    """The fine-tuned model's report of each protocol evaluated: ``{protocol: report}``."""
    labels = {protocol: result_label("fine-tuned", protocol) for protocol in (UNSEEN_COLLECTIONS, HELD_OUT_TOKENS)}
    return {protocol: reports[label] for protocol, label in labels.items() if label in reports}


def save_model(model, processor, results: dict, model_args, data_args, args, hyperparameters: dict, run: dict) -> None:
    """`save_pretrained` of the model and processor, ``eval_results.json``, the model card, and the push."""
    output_dir = Path(args.output_dir)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    share_weights(output_dir)
    reports = {label: report for label, report in results.items() if report is not None}
    markdown = whole_split_markdown(reports) if reports else None
    if reports:
        atomic_write_text(output_dir / "eval_results.json", json.dumps(reports, indent=2))
    if run["carried_occurrences"] is not None:
        atomic_write_text(output_dir / MASKING_FILE, json.dumps(scarcity_record(run["carried_occurrences"]), indent=2))
    card = clip_model_card(
        model_name=args.hub_model_id or output_dir.name,
        model_name_or_path=model_args.model_name_or_path,
        dataset_name=data_args.dataset_name or data_args.train_file,
        dataset_config=data_args.dataset_config_name,
        mask_prob=data_args.mask_prob,
        hyperparameters=hyperparameters,
        evaluation_markdown=markdown,
        evaluations=fine_tuned(reports),
        eval_splits={UNSEEN_COLLECTIONS: data_args.eval_split, HELD_OUT_TOKENS: data_args.train_split},
        **run,
    )
    if markdown:
        echo(markdown)
    message = f"train_clip.py: {run['steps']} steps, p = {data_args.mask_prob}"
    publish(output_dir, card, args, MODEL_UPLOAD_IGNORE, message)


if __name__ == "__main__":
    sys.exit(run_command(lambda: main(sys.argv[1:]), Path(__file__).name))
