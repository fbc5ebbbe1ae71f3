"""Stable Diffusion pipelines: any checkpoint name or folder, or ``tiny``, a small pipeline built offline.

``tiny`` is a real `StableDiffusionPipeline` (UNet, VAE, CLIP text encoder, tokenizer, scheduler) whose parts are
built from small configs, the tokenizer BPE-trained on the training prompts as for the tiny CLIP; it is saved
with `save_pretrained` and loads back with `from_pretrained` like any Hub pipeline. ``sd15_sized_parts`` builds
the UNet, VAE and text encoder at the size of Stable Diffusion 1.5 (random weights) for speed measurements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
from transformers import CLIPTextConfig, CLIPTextModel

from modeling.models.clip import TINY
from modeling.models.tokenizer import train_clip_tokenizer

DEFAULT_DIFFUSION_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


@dataclass(frozen=True)
class TinyDiffusionSpec:
    """Size of the offline pipeline: images of `resolution` px, latents a quarter of that."""

    resolution: int = 64
    unet_channels: tuple[int, ...] = (32, 64)
    vae_channels: tuple[int, ...] = (32, 32, 64)
    text_hidden_size: int = 64
    text_layers: int = 2
    vocab_size: int = 2048
    max_length: int = 77


def build_text_encoder(tokenizer, hidden_size: int, layers: int, heads: int, max_length: int) -> CLIPTextModel:
    """A randomly initialised CLIP text encoder of this size for `tokenizer`."""
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def build_vae(channels: tuple[int, ...], resolution: int) -> AutoencoderKL:
    """A randomly initialised SD-style VAE (4 latent channels) with these block widths."""
    return AutoencoderKL(
        block_out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * len(channels),
        up_block_types=("UpDecoderBlock2D",) * len(channels),
        latent_channels=4,
        layers_per_block=1 if channels[0] < 128 else 2,
        norm_num_groups=min(32, channels[0]),
        sample_size=resolution,
    )


def build_unet(
    channels: tuple[int, ...], cross_attention_dim: int, sample_size: int, layers: int
) -> UNet2DConditionModel:
    """A randomly initialised SD 1.x-style UNet with these block widths, attending to the text in all but the
    deepest block."""
    cross = len(channels) - 1  # every block but the deepest attends to the text, as in SD 1.x
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=channels,
        layers_per_block=layers,
        down_block_types=("CrossAttnDownBlock2D",) * cross + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * cross,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=8,
        norm_num_groups=min(32, channels[0]),
    )


def build_tiny_pipeline(
    prompts: Iterable[str], spec: TinyDiffusionSpec = TinyDiffusionSpec()
) -> StableDiffusionPipeline:
    """A randomly initialised small Stable Diffusion pipeline, its tokenizer trained on `prompts`."""
    tokenizer = train_clip_tokenizer(prompts, vocab_size=spec.vocab_size)
    tokenizer.model_max_length = spec.max_length
    latent_size = spec.resolution // 2 ** (len(spec.vae_channels) - 1)
    return StableDiffusionPipeline(
        vae=build_vae(spec.vae_channels, spec.resolution),
        text_encoder=build_text_encoder(tokenizer, spec.text_hidden_size, spec.text_layers, 4, spec.max_length),
        tokenizer=tokenizer,
        unet=build_unet(spec.unet_channels, spec.text_hidden_size, latent_size, layers=1),
        scheduler=DDIMScheduler(**SD_BETAS, clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def load_pipeline(
    name_or_path: str,
    prompts: Iterable[str] | None = None,
    spec: TinyDiffusionSpec = TinyDiffusionSpec(),
    *,
    revision: str | None = None,
    variant: str | None = None,
) -> StableDiffusionPipeline:
    """`tiny` (needs `prompts`), or a Hub name or local pipeline folder (at `revision`, with the `variant` files
    such as fp16, as `from_pretrained` takes them); offline with a Hub name is a clear error."""
    if name_or_path == TINY:
        if prompts is None:
            raise ValueError("--pretrained_model tiny trains its tokenizer on the training prompts: pass them")
        return build_tiny_pipeline(prompts, spec)
    try:
        return StableDiffusionPipeline.from_pretrained(
            name_or_path, revision=revision, variant=variant, safety_checker=None, requires_safety_checker=False
        )
    except (OSError, OfflineModeIsEnabled, LocalEntryNotFoundError) as err:
        raise RuntimeError(
            f"cannot load the Stable Diffusion pipeline {name_or_path!r}: {str(err).rstrip('.')}. Without access to "
            "the Hub use "
            "`--pretrained_model tiny` (a small pipeline built from configs, offline) or a local pipeline folder "
            "saved with save_pretrained."
        ) from err
