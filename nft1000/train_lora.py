"""LoRA for one collection's style on a Stable Diffusion pipeline (paper, 6.4): ``accelerate launch train_lora.py``.

    accelerate launch train_lora.py --pretrained_model stable-diffusion-v1-5/stable-diffusion-v1-5 \\
        --dataset_name shuxunoo/NFT1000 --collection Azuki --output_dir lora-azuki --mixed_precision bf16

LoRA adapters (peft `LoraConfig` through the diffusers adapter API) on the UNet's attention projections, and on
the text encoder with ``--train_text_encoder``; prompts are built from each token's attributes with the
template `nft1000 generate` uses. Flags follow diffusers' ``train_text_to_image_lora.py`` with dashed aliases.
Checkpoints hold only the LoRA weights and the optimizer state; ``--resume_from_checkpoint latest`` continues.
The result (``pytorch_lora_weights.safetensors``) loads with `StableDiffusionPipeline.load_lora_weights`.
``--pretrained_model tiny`` builds a small pipeline from configs (offline) and saves it in OUTPUT_DIR/tiny-base.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from datasets import load_dataset
from diffusers import DDPMScheduler
from diffusers.utils import make_image_grid
from torch.utils.data import DataLoader
from transformers import HfArgumentParser, get_scheduler

from modeling.models.clip import TINY
from modeling.models.diffusion import DEFAULT_DIFFUSION_MODEL, TinyDiffusionSpec, load_pipeline
from modeling.models.lora_collator import LoraCollator, row_prompt
from modeling.models.lora_training import (
    LORA_INFO,
    add_lora,
    denoising_loss,
    encode_latents,
    fixed_denoising_loss,
    load_lora,
    save_lora,
)
from nft1000.errors import run_command
from nft1000.model_card import lora_model_card
from nft1000.training_run import (
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
from nft1000_dataset.captions import build_prompt
from nft1000_dataset.exported import load_collections
from nft1000_dataset.traits import trait_vocabulary
from nft1000_io.atomic import atomic_write_png, atomic_write_text, share_weights

logger = logging.getLogger("train_lora")
TINY_BASE = "tiny-base"
FIXED_LOSS_ROWS = 16  # training rows whose fixed-noise loss is reported before and after training
UPLOAD_IGNORE = ["checkpoint-*/**", "train_lora/**", "**/.*.tmp"]


@dataclass
class LoraArguments(TrackingAndHubArguments):
    output_dir: str
    dataset_name: str | None = field(
        default=None, metadata={"aliases": ["--dataset"], "help": "exported NFT1000 folder or Hub repo"}
    )
    collection: str | None = field(
        default=None,
        metadata={"help": "the collection whose style is learnt, e.g. Azuki (with --train_data_dir: its name)"},
    )
    train_data_dir: str | None = field(
        default=None,
        metadata={"help": "instead of a dataset: an image folder with a metadata.jsonl of captions (datasets' "
                  "imagefolder), as diffusers' train_text_to_image_lora.py takes it"},
    )  # fmt: skip
    image_column: str = field(default="image", metadata={"help": "the column holding the images"})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "write into a non-empty output_dir that holds no earlier run"}
    )
    pretrained_model_name_or_path: str = field(
        default=DEFAULT_DIFFUSION_MODEL,
        metadata={
            "aliases": ["--pretrained_model", "--pretrained-model"],
            "help": f"pipeline name or folder, or `{TINY}`",
        },
    )
    revision: str | None = field(default=None, metadata={"help": "revision of the pretrained model on the Hub"})
    variant: str | None = field(default=None, metadata={"help": "variant of the model files, e.g. fp16"})
    dataset_config_name: str = field(default="full", metadata={"aliases": ["--config"], "help": "full or mini"})
    prompt_column: str = field(
        default="prompt",
        metadata={
            "aliases": ["--caption_column", "--caption-column"],
            "help": "`prompt` (template from the attributes), `release_prompt` (the release's prompts/), or the "
            "caption column of --train_data_dir's metadata.jsonl",
        },
    )
    max_train_samples: int | None = None
    resolution: int | None = field(default=None, metadata={"help": "default: the pipeline's native size"})
    center_crop: bool = field(
        default=True,
        metadata={"help": "centre crop to the resolution (the default here: PFPs are aligned portraits); "
                  "--no_center_crop or --random_crop crop at random, diffusers' default"},
    )  # fmt: skip
    random_crop: bool = field(default=False, metadata={"help": "crop at random (the same as --no_center_crop)"})
    random_flip: bool = False
    rank: int = 4
    lora_alpha: float | None = field(default=None, metadata={"help": "default: the rank"})
    train_text_encoder: bool = False
    train_batch_size: int = 4
    num_train_epochs: int = 100
    max_train_steps: int | None = None
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    learning_rate: float = 1e-4
    scale_lr: bool = field(
        default=False, metadata={"help": "scale the learning rate by processes, accumulation steps and batch size"}
    )
    prediction_type: str | None = field(
        default=None,
        metadata={"choices": ["epsilon", "v_prediction"], "help": "the UNet's target (default: the scheduler's)"},
    )
    lr_scheduler: str = "constant"
    lr_warmup_steps: int = 0
    snr_gamma: float | None = field(default=None, metadata={"help": "Min-SNR weighting gamma; 5.0 is recommended"})
    noise_offset: float = 0.0
    use_8bit_adam: bool = False
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    mixed_precision: str | None = field(default=None, metadata={"choices": ["no", "fp16", "bf16"]})
    allow_tf32: bool = False
    dataloader_num_workers: int = 0
    seed: int = 42
    logging_steps: int = 10
    checkpointing_steps: int = 500
    checkpoints_total_limit: int | None = None
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "a checkpoint folder or `latest`"})
    validation_prompt: str | None = field(
        default=None, metadata={"help": "one prompt, rendered --num_validation_images times (as in diffusers)"}
    )
    validation_prompts: list[str] | None = field(
        default=None,
        metadata={"help": "several prompts, one image each (default: the prompts of the collection's first tokens)"},
    )
    num_validation_images: int = field(default=4, metadata={"help": "images rendered at each validation"})
    validation_steps: int | None = field(default=None, metadata={"help": "render the validation grid every N steps"})
    validation_epochs: int | None = field(
        default=None, metadata={"help": "render the validation grid at the end of every N epochs"}
    )
    num_inference_steps: int = 30
    tiny_resolution: int = field(default=64, metadata={"help": "image size of the tiny pipeline"})


def parse_args(argv: list[str] | None = None) -> LoraArguments:
    (args,) = parse_script_args(HfArgumentParser(LoraArguments, prog="train_lora.py"), argv)
    return args


@dataclass(frozen=True)
class TrainingRows:
    """Where the rows trained on come from: one collection of an export (``--dataset_name``, ``--collection``),
    or an image folder with captions (``--train_data_dir``, named by ``--collection`` or its folder)."""

    dataset_name: str | None
    dataset_config_name: str | None
    train_data_dir: str | None
    collection: str | None
    image_column: str
    prompt_column: str
    max_train_samples: int | None

    @classmethod
    def of(cls, args: LoraArguments) -> TrainingRows:
        return cls(args.dataset_name, args.dataset_config_name, args.train_data_dir, args.collection,
                   args.image_column, args.prompt_column, args.max_train_samples)  # fmt: skip


def load_training_rows(source: TrainingRows) -> tuple[datasets.Dataset, str]:
    """The rows trained on, the first --max_train_samples of them, the image column renamed ``image``, and the
    collection's name (an image folder's own name where --collection is not given)."""
    if bool(source.dataset_name) == bool(source.train_data_dir):
        raise ValueError("give --dataset_name (with --collection) or --train_data_dir, one of them")
    collection = source.collection
    if source.train_data_dir:
        rows = load_dataset("imagefolder", data_dir=source.train_data_dir, split="train")
        if "token_id" not in rows.column_names:  # the collator seeds each row's crop and flip by its id
            rows = rows.add_column("token_id", [str(i) for i in range(len(rows))])
        collection = collection or Path(source.train_data_dir).resolve().name
    elif not collection:
        raise ValueError("--dataset_name needs --collection, the collection whose style is learnt")
    else:
        rows = load_collections(source.dataset_name, [collection], source.dataset_config_name)
    if source.image_column not in rows.column_names:
        raise ValueError(f"--image_column {source.image_column!r}: the data has columns {rows.column_names}")
    rows = rows.rename_column(source.image_column, "image") if source.image_column != "image" else rows
    if source.max_train_samples is not None:
        rows = rows.select(range(min(source.max_train_samples, len(rows))))
    if source.prompt_column not in rows.column_names:
        raise ValueError(f"--prompt_column {source.prompt_column!r}: the dataset has columns {rows.column_names}")
    return rows, collection


def batch_generator(seed: int, batch_index: int, process_index: int, device) -> torch.Generator:
    """The random source of one batch's latents, noise and timesteps: a function of the batch's position in the
    run alone, so a resumed run draws what the uninterrupted one drew."""
    state = np.random.SeedSequence([seed, batch_index, process_index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state))


def make_optimizer(
    params, learning_rate: float, betas: tuple[float, float], weight_decay: float, eps: float, use_8bit_adam: bool
) -> torch.optim.Optimizer:
    optimizer_class = torch.optim.AdamW
    if use_8bit_adam:
        try:
            import bitsandbytes as bnb
        except ImportError as err:
            raise ImportError("--use_8bit_adam needs bitsandbytes: pip install bitsandbytes") from err
        optimizer_class = bnb.optim.AdamW8bit
    return optimizer_class(params, lr=learning_rate, betas=betas, weight_decay=weight_decay, eps=eps)


def validation_prompt_list(args: LoraArguments, rows: datasets.Dataset) -> list[str]:
    """The prompts rendered at each validation, one image each: --validation_prompt repeated
    --num_validation_images times (diffusers' meaning; each image has its own seed), or --validation_prompts, or
    the prompts of the collection's first --num_validation_images tokens."""
    if args.validation_prompt and args.validation_prompts:
        raise ValueError("give --validation_prompt or --validation_prompts, not both")
    if args.validation_prompt:
        return [args.validation_prompt] * args.num_validation_images
    if args.validation_prompts:
        return args.validation_prompts
    first = rows.select(range(min(args.num_validation_images, len(rows))))
    if "attributes" not in rows.column_names:  # an image folder: its own captions
        return prompts_of(first, args.prompt_column)
    return [build_prompt(args.collection, row["attributes"]) for row in first.select_columns(["attributes"])]


def autocast_call(accelerator: Accelerator, function: Callable[[], float]) -> float:
    """`function()` in the run's mixed precision."""
    with accelerator.autocast():
        return function()


def render_validation(accelerator: Accelerator, pipeline, prompts: list[str], steps: int, seed: int) -> list:
    """One image per prompt, each from its own seeded generator, as PIL images."""
    pipeline.set_progress_bar_config(disable=True)
    images = []
    for i, prompt in enumerate(prompts):
        generator = torch.Generator(device="cpu").manual_seed(seed + i)
        with accelerator.autocast(), torch.no_grad():
            images.append(pipeline(prompt, num_inference_steps=steps, generator=generator).images[0])
    return images


def log_images(accelerator: Accelerator, images: list, step: int) -> None:
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_images(
                "validation", np.stack([np.asarray(im) for im in images]), step, dataformats="NHWC"
            )


def main(argv: list[str] | None = None) -> dict:
    """The script: parse the flags, train and save (a run that fails before writing leaves no folder)."""
    args = parse_args(argv)
    with removed_if_left_empty(Path(args.output_dir)):
        return train(args)


def train(args: LoraArguments) -> dict:
    """One LoRA training run, step by step; returns what it recorded."""
    output_dir = Path(args.output_dir)
    # 1. the accelerator: processes, precision, trackers, seeds, the output folder claimed
    accelerator = start_run(
        output_dir, args.seed, args.overwrite_output_dir, own_files=(TINY_BASE,),
        gradient_accumulation_steps=args.gradient_accumulation_steps, mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
    )  # fmt: skip
    if args.allow_tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    # 2. data: one collection's rows (or an image folder) and their prompts
    rows, args.collection = load_training_rows(TrainingRows.of(args))  # the collection named where it was not
    prompts = prompts_of(rows, args.prompt_column)
    # 3. the base pipeline, with LoRA adapters that checkpoints save alone
    pipeline, base = load_base(accelerator, args.pretrained_model_name_or_path, output_dir, prompts,
                               args.tiny_resolution, args.revision, args.variant)  # fmt: skip
    params, trained_text_encoder = add_adapters(accelerator, pipeline, args.train_text_encoder, args.rank,
                                                args.lora_alpha, args.gradient_checkpointing)  # fmt: skip
    unet, vae, text_encoder = pipeline.unet, pipeline.vae, pipeline.text_encoder
    noise_scheduler = training_noise_scheduler(pipeline, args.prediction_type)
    resolution = args.resolution or unet.config.sample_size * pipeline.vae_scale_factor
    # 4. the collator (random crops unless --center_crop alone) and the loader
    collator = LoraCollator(pipeline.tokenizer, resolution, args.random_crop or not args.center_crop,
                            args.random_flip, args.prompt_column, args.seed)  # fmt: skip
    loader = make_loader(rows, collator, args.train_batch_size, args.dataloader_num_workers)
    # 5. the optimizer and the schedule, prepared by accelerate (args.learning_rate: as scaled by --scale_lr)
    trained, optimizer, loader, scheduler, steps_per_epoch, max_train_steps, args.learning_rate = prepare_optimization(
        accelerator, params, [unet] if trained_text_encoder is None else [unet, text_encoder], loader,
        OptimizationPlan.of(args))  # fmt: skip
    text_train = trained[1] if trained_text_encoder is not None else text_encoder
    # 6. trackers, the step log, the fixed-noise loss before training, resuming
    hyperparameters = scalar_config(args)
    accelerator.init_trackers("train_lora", config=hyperparameters)
    log = TrainLog(output_dir / "train_log.jsonl", accelerator.is_main_process)
    validation_prompts = validation_prompt_list(args, rows)
    fixed_batch = collator([rows[i] for i in range(min(FIXED_LOSS_ROWS, len(rows)))])
    fixed_loss = partial(fixed_denoising_loss, unet, vae, text_encoder, noise_scheduler, fixed_batch, seed=args.seed)
    loss_before = autocast_call(accelerator, fixed_loss)
    completed_steps, first_epoch, skip_batches = resume(
        accelerator, args.resume_from_checkpoint, output_dir, steps_per_epoch, args.gradient_accumulation_steps
    )
    # 7. the training loop
    progress = StepProgress(accelerator, log, max_train_steps, completed_steps, args.logging_steps)
    batches_done = completed_steps * args.gradient_accumulation_steps
    denoise = DenoisingStep(accelerator, trained, text_train, vae, noise_scheduler, optimizer, scheduler, params,
                            DenoisingLoss.of(args))  # fmt: skip
    validation = Validation(accelerator, pipeline, validation_prompts, ValidationPlan.of(args), max_train_steps)
    for epoch, batches in epochs(accelerator, loader, collator, first_epoch, skip_batches):
        if completed_steps >= max_train_steps:
            break
        for model in trained:
            model.train()
        for batch in batches:
            progress.add_loss(denoise(batch, batches_done))
            batches_done += 1
            if not accelerator.sync_gradients:
                continue
            completed_steps += 1
            progress.step(completed_steps, epoch, lambda: {"lr": scheduler.get_last_lr()[0]})
            checkpoint_if_due(
                accelerator, output_dir, completed_steps, args.checkpointing_steps, args.checkpoints_total_limit
            )
            validation.after_step(completed_steps)
            if completed_steps >= max_train_steps:
                break
        validation.after_epoch(epoch, completed_steps)
    seconds = progress.close()
    # 8. the fixed-noise loss after training, then the LoRA weights, what generation needs, samples, card and push
    accelerator.wait_for_everyone()
    loss_after = autocast_call(accelerator, fixed_loss)
    used = len(fixed_batch["input_ids"])
    accelerator.print(f"denoising loss on {used} training rows, fixed noise: {loss_before:.4f} -> {loss_after:.4f}")
    summary = {"steps": completed_steps, "seconds": seconds, "output_dir": str(output_dir),
               "fixed_loss": {"before": loss_before, "after": loss_after}}  # fmt: skip
    if accelerator.is_main_process:
        made = {"base": base, "resolution": resolution, "prompts": validation_prompts, **summary}
        save_run(pipeline, trained_text_encoder, rows, LoraRecord.of(args), validation, args, hyperparameters, made)
    accelerator.end_training()
    return summary


def training_noise_scheduler(pipeline, prediction_type: str | None) -> DDPMScheduler:
    """The DDPM scheduler of the base pipeline's config, with --prediction_type when given."""
    scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    scheduler.register_to_config(prediction_type=prediction_type or scheduler.config.prediction_type)
    return scheduler


def make_loader(rows, collator: LoraCollator, batch_size: int, workers: int) -> DataLoader:
    """The shuffled loader of `rows` through `collator`."""
    return DataLoader(rows, batch_size=batch_size, shuffle=True, collate_fn=collator, num_workers=workers)


def load_base(
    accelerator: Accelerator, name: str, output_dir: Path, prompts: list[str], tiny_resolution: int,
    revision: str | None, variant: str | None,
) -> tuple:  # fmt: skip
    """The base pipeline on the device in the training precision, and its name or folder; the tiny base is built
    once from configs (its tokenizer trained on `prompts`) and saved in OUTPUT_DIR, so a resumed run trains the
    same base."""
    base = name
    if base == TINY:
        base = str(output_dir / TINY_BASE)
        if not (output_dir / TINY_BASE / "model_index.json").is_file():
            if accelerator.is_main_process:
                load_pipeline(TINY, prompts, TinyDiffusionSpec(resolution=tiny_resolution)).save_pretrained(base)
                share_weights(base)
            accelerator.wait_for_everyone()
    hub_files = {"revision": revision, "variant": variant} if base == name else {}
    pipeline = load_pipeline(base, **hub_files)  # the tiny base lies in OUTPUT_DIR, saved without a variant
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
    for model in (pipeline.unet, pipeline.vae, pipeline.text_encoder):
        model.to(accelerator.device, dtype=weight_dtype)
    return pipeline, base


def add_adapters(
    accelerator: Accelerator, pipeline, train_text_encoder: bool, rank: int, alpha: float | None, checkpointing: bool
) -> tuple[list, object]:
    """LoRA adapters on the UNet (and the text encoder with --train_text_encoder), gradient checkpointing as asked,
    and checkpoint hooks that save and load the adapters alone; (trainable parameters, the text encoder trained
    or None)."""
    unet, text_encoder = pipeline.unet, pipeline.text_encoder
    trained_text_encoder = text_encoder if train_text_encoder else None
    params = add_lora(unet, trained_text_encoder, rank=rank, alpha=alpha)
    if checkpointing:
        unet.enable_gradient_checkpointing()
        if trained_text_encoder is not None:
            text_encoder.gradient_checkpointing_enable()

    def save_hook(models, weights, directory):
        if accelerator.is_main_process:
            save_lora(directory, unet, trained_text_encoder)
        weights.clear()  # the frozen base is not part of a checkpoint

    def load_hook(models, directory):
        models.clear()
        load_lora(directory, unet, trained_text_encoder)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
    return params, trained_text_encoder


@dataclass(frozen=True)
class OptimizationPlan:
    """What the optimizer and the learning-rate schedule use of the run's settings."""

    learning_rate: float
    scale_lr: bool
    gradient_accumulation_steps: int
    train_batch_size: int
    betas: tuple[float, float]
    weight_decay: float
    eps: float
    use_8bit_adam: bool
    max_train_steps: int | None
    num_train_epochs: int
    lr_scheduler: str
    lr_warmup_steps: int

    @classmethod
    def of(cls, args: LoraArguments) -> OptimizationPlan:
        return cls(args.learning_rate, args.scale_lr, args.gradient_accumulation_steps, args.train_batch_size,
                   (args.adam_beta1, args.adam_beta2), args.adam_weight_decay, args.adam_epsilon, args.use_8bit_adam,
                   args.max_train_steps, args.num_train_epochs, args.lr_scheduler, args.lr_warmup_steps)  # fmt: skip

    def scaled_learning_rate(self, processes: int) -> float:
        """--learning_rate, times the global batch under --scale_lr (as diffusers' example scales it)."""
        scale = self.gradient_accumulation_steps * self.train_batch_size * processes if self.scale_lr else 1
        return self.learning_rate * scale


def prepare_optimization(accelerator: Accelerator, params, trained: list, loader, plan: OptimizationPlan) -> tuple:
    """The optimizer of the LoRA parameters and the schedule, prepared with the trained models and the loader:
    (trained models, optimizer, loader, scheduler, optimizer steps per epoch, steps, the learning rate used)."""
    learning_rate = plan.scaled_learning_rate(accelerator.num_processes)
    optimizer = make_optimizer(params, learning_rate, plan.betas, plan.weight_decay, plan.eps, plan.use_8bit_adam)
    steps_per_epoch = math.ceil(len(loader) / accelerator.num_processes / plan.gradient_accumulation_steps)
    max_train_steps = plan.max_train_steps or plan.num_train_epochs * steps_per_epoch
    scheduler = get_scheduler(
        plan.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=plan.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=max_train_steps * accelerator.num_processes,
    )
    *prepared, optimizer, loader, scheduler = accelerator.prepare(*trained, optimizer, loader, scheduler)
    return prepared, optimizer, loader, scheduler, steps_per_epoch, max_train_steps, learning_rate


@dataclass(frozen=True)
class DenoisingLoss:
    """What a denoising step uses of the run's settings: the seed of its noise, whether the text encoder trains,
    the SNR weighting, the noise offset and the gradient clip."""

    seed: int
    train_text_encoder: bool
    snr_gamma: float | None
    noise_offset: float
    max_grad_norm: float | None

    @classmethod
    def of(cls, args: LoraArguments) -> DenoisingLoss:
        return cls(args.seed, args.train_text_encoder, args.snr_gamma, args.noise_offset, args.max_grad_norm)


class DenoisingStep:
    """One batch: latents and noise drawn from the batch's own generator (`batch_generator`), the denoising loss,
    backward, and (where gradients sync) clipping and the optimizer and schedule steps; returns the loss averaged
    over processes."""

    def __init__(self, accelerator, trained, text_encoder, vae, noise_scheduler, optimizer, scheduler, params,
                 loss: DenoisingLoss):  # fmt: skip
        self.accelerator, self.trained, self.text_encoder, self.vae = accelerator, trained, text_encoder, vae
        self.noise_scheduler, self.optimizer, self.scheduler = noise_scheduler, optimizer, scheduler
        self.params, self.loss = params, loss

    def __call__(self, batch: dict, batch_index: int) -> float:
        accelerator, settings = self.accelerator, self.loss
        generator = batch_generator(settings.seed, batch_index, accelerator.process_index, accelerator.device)
        with accelerator.accumulate(*self.trained):
            with torch.no_grad():
                latents = encode_latents(self.vae, batch["pixel_values"], generator=generator)
            with torch.set_grad_enabled(settings.train_text_encoder):
                encoder_hidden_states = self.text_encoder(batch["input_ids"], return_dict=False)[0]
            loss = denoising_loss(
                self.trained[0],
                self.noise_scheduler,
                latents,
                encoder_hidden_states,
                snr_gamma=settings.snr_gamma,
                noise_offset=settings.noise_offset,
                generator=generator,
            )
            accelerator.backward(loss)
            if accelerator.sync_gradients and settings.max_grad_norm:
                accelerator.clip_grad_norm_(self.params, settings.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
        return accelerator.gather(loss.detach()).mean().item()


@dataclass(frozen=True)
class LoraRecord:
    """What the end of a run records of its settings: where, from which base and data, which collection, how its
    prompts read, the rank."""

    output_dir: str
    base_model: str
    dataset: str | None
    collection: str
    prompt_column: str
    rank: int

    @classmethod
    def of(cls, args: LoraArguments) -> LoraRecord:
        return cls(args.output_dir, args.pretrained_model_name_or_path, args.dataset_name or args.train_data_dir,
                   args.collection, args.prompt_column, args.rank)  # fmt: skip


def save_run(pipeline, trained_text_encoder, rows, record: LoraRecord, validation: Validation,
             hub: TrackingAndHubArguments, hyperparameters: dict, made: dict) -> None:  # fmt: skip
    """The LoRA weights, what `nft1000 generate` needs (``nft1000_lora.json``), the samples (`validation`'s prompts
    rendered once more), the card, the push (`hub`: ``--push_to_hub`` and where); `made`: the base, the resolution,
    the validation prompts and the run's summary."""
    output_dir = Path(record.output_dir)
    save_lora(output_dir, pipeline.unet, trained_text_encoder)
    info = {
        "base_model": TINY_BASE if record.base_model == TINY else made["base"],
        "collection": record.collection,
        "prompt_column": record.prompt_column,
        "resolution": made["resolution"],
        "rank": record.rank,
        "traits": trait_vocabulary(rows["attributes"]) if "attributes" in rows.column_names else {},
    }
    atomic_write_text(output_dir / LORA_INFO, json.dumps(info, indent=2))
    samples = validation.render(made["steps"])
    if samples is not None:
        atomic_write_png(output_dir / "samples.png", samples)
    card = lora_model_card(
        base_model=record.base_model,
        dataset_name=record.dataset,
        collection=record.collection,
        prompts=made["prompts"],
        hyperparameters=hyperparameters,
        train_rows=len(rows),
        fixed_loss=made["fixed_loss"],
        steps=made["steps"],
        seconds=made["seconds"],
    )
    message = f"train_lora.py: {record.collection}, {made['steps']} steps"
    publish(output_dir, card, hub, UPLOAD_IGNORE, message)


def prompts_of(rows: datasets.Dataset, prompt_column: str) -> list[str]:
    """Each row's prompt (`row_prompt`), read from its text columns alone."""
    columns = [c for c in dict.fromkeys(["prompt", prompt_column]) if c in rows.column_names]
    return [row_prompt(row, prompt_column) for row in rows.select_columns(columns)]


@dataclass(frozen=True)
class ValidationPlan:
    """When and how the validation prompts are rendered: every `every_steps` steps and every `every_epochs`
    epochs (--validation_steps, --validation_epochs; 0 or None: never), with `inference_steps` and `seed`, the grids
    written under `output_dir`."""

    every_steps: int | None
    every_epochs: int | None
    inference_steps: int
    seed: int
    output_dir: str

    @classmethod
    def of(cls, args: LoraArguments) -> ValidationPlan:
        return cls(args.validation_steps, args.validation_epochs, args.num_inference_steps, args.seed, args.output_dir)


class Validation:
    """The validation prompts rendered with the current LoRA as `plan` says (on the main process, before the last
    step), saved as grids and logged."""

    def __init__(self, accelerator: Accelerator, pipeline, prompts: list[str], plan: ValidationPlan, max_steps: int):
        self.accelerator, self.pipeline, self.prompts, self.plan, self.max_steps = (
            accelerator, pipeline, prompts, plan, max_steps,
        )  # fmt: skip

    def after_step(self, step: int) -> None:
        """Render when --validation_steps divides `step`."""
        if self.plan.every_steps and step % self.plan.every_steps == 0:
            self._render_if_before_end(step)

    def after_epoch(self, epoch: int, step: int) -> None:
        """Render when --validation_epochs divides the number of finished epochs."""
        if self.plan.every_epochs and (epoch + 1) % self.plan.every_epochs == 0:
            self._render_if_before_end(step)

    def _render_if_before_end(self, step: int) -> None:
        if step < self.max_steps and self.accelerator.is_main_process:
            self.render(step)

    def render(self, step: int):
        """Render the prompts, save the grid PNG under ``validation/``, log it; returns the grid (None where there
        is no prompt: ``--num_validation_images 0``)."""
        if not self.prompts:
            return None
        images = render_validation(
            self.accelerator, self.pipeline, self.prompts, self.plan.inference_steps, self.plan.seed
        )
        grid = make_image_grid(images, rows=1, cols=len(images))
        atomic_write_png(Path(self.plan.output_dir) / "validation" / f"step-{step:06d}.png", grid)
        log_images(self.accelerator, images, step)
        return grid


if __name__ == "__main__":
    sys.exit(run_command(lambda: main(sys.argv[1:]), Path(__file__).name))
