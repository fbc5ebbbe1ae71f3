"""LoRA for Stable Diffusion with peft through the diffusers adapter API: adapters, the denoising loss, the
LoRA-only save and load that checkpoints and the final weights use, and the image batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline
from diffusers.training_utils import cast_training_params, compute_snr
from diffusers.utils import convert_state_dict_to_diffusers, convert_unet_state_dict_to_peft
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from PIL import Image

from nft1000_io.atomic import share_weights

UNET_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]  # the attention projections, as diffusers' LoRA example
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
ADAPTER = "default"
LORA_INFO = "nft1000_lora.json"  # base model, collection, prompt template and trait vocabulary, for generation


def add_lora(unet, text_encoder=None, rank: int = 4, alpha: float | None = None) -> list[torch.nn.Parameter]:
    """Add LoRA adapters (`rank`, `alpha` defaults to rank) to the UNet, and to the text encoder when given;
    freeze everything else and keep the trainable LoRA weights in fp32. Returns the trainable parameters."""
    models = [m for m in (unet, text_encoder) if m is not None]
    for model in models:
        model.requires_grad_(False)
    config = {"r": rank, "lora_alpha": alpha or rank, "init_lora_weights": "gaussian"}
    unet.add_adapter(LoraConfig(**config, target_modules=UNET_TARGETS))
    if text_encoder is not None:
        text_encoder.add_adapter(LoraConfig(**config, target_modules=TEXT_TARGETS))
    cast_training_params(models, dtype=torch.float32)
    return [p for model in models for p in model.parameters() if p.requires_grad]


def lora_layers(model) -> dict[str, torch.Tensor]:
    """The model's LoRA weights in diffusers' naming, ready for `save_lora_weights`."""
    return convert_state_dict_to_diffusers(get_peft_model_state_dict(model))


def save_lora(directory: str | Path, unet, text_encoder=None) -> None:
    """``pytorch_lora_weights.safetensors`` as `StableDiffusionPipeline.load_lora_weights` reads it, with each
    adapter's config (rank, alpha, targets) in its metadata, so that what reloads is what was trained."""
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(directory),
        unet_lora_layers=lora_layers(unet),
        text_encoder_lora_layers=lora_layers(text_encoder) if text_encoder is not None else None,
        safe_serialization=True,
        unet_lora_adapter_metadata=unet.peft_config[ADAPTER].to_dict(),
        text_encoder_lora_adapter_metadata=text_encoder.peft_config[ADAPTER].to_dict() if text_encoder else None,
    )
    share_weights(directory)


def load_lora(directory: str | Path, unet, text_encoder=None) -> None:
    """Set the adapters of `unet` (and `text_encoder`) from a folder written by `save_lora` (resuming)."""
    state, _ = StableDiffusionPipeline.lora_state_dict(str(directory))
    unet_state = {k.removeprefix("unet."): v for k, v in state.items() if k.startswith("unet.")}
    result = set_peft_model_state_dict(unet, convert_unet_state_dict_to_peft(unet_state), adapter_name=ADAPTER)
    if result.unexpected_keys:
        raise ValueError(f"{directory}: LoRA weights the UNet does not have: {result.unexpected_keys[:5]}")
    if text_encoder is not None:
        prefix = "text_encoder."
        text_state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        set_peft_model_state_dict(text_encoder, text_state, adapter_name=ADAPTER)


def image_tensor(image: Image.Image, resolution: int, random_crop: bool, flip: bool, rng: np.random.Generator):
    """One image as a (3, resolution, resolution) tensor in [-1, 1]: shorter side resized to `resolution`, then
    a centre crop (or a random one), then an optional horizontal flip."""
    image = image.convert("RGB")
    scale = resolution / min(image.size)
    size = (max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale)))
    if image.size != size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    spare_x, spare_y = image.width - resolution, image.height - resolution
    left = int(rng.integers(spare_x + 1)) if random_crop else spare_x // 2
    top = int(rng.integers(spare_y + 1)) if random_crop else spare_y // 2
    pixels = np.asarray(image.crop((left, top, left + resolution, top + resolution)), dtype=np.float32)
    if flip:
        pixels = pixels[:, ::-1]
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1) / 127.5 - 1.0


def denoising_loss(
    unet,
    noise_scheduler,
    latents: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    *,
    snr_gamma: float | None = None,
    noise_offset: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The diffusion training loss of one batch: noise the latents at random timesteps and regress the
    scheduler's target (noise or v); Min-SNR weighting (`snr_gamma`, Hang et al. 2023) when given."""
    device = latents.device
    noise = torch.randn(latents.shape, generator=generator, device=device, dtype=latents.dtype)
    if noise_offset:  # https://www.crosslabs.org//blog/diffusion-with-offset-noise
        offset = torch.randn((latents.shape[0], latents.shape[1], 1, 1), generator=generator, device=device)
        noise = noise + noise_offset * offset.to(latents.dtype)
    steps = noise_scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator, device=device).long()
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    prediction = unet(noisy, timesteps, encoder_hidden_states, return_dict=False)[0]
    if snr_gamma is None:
        return F.mse_loss(prediction.float(), target.float(), reduction="mean")
    snr = compute_snr(noise_scheduler, timesteps)
    weights = torch.stack([snr, snr_gamma * torch.ones_like(snr)], dim=1).min(dim=1)[0]
    weights = weights / (snr + 1) if noise_scheduler.config.prediction_type == "v_prediction" else weights / snr
    loss = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    return (loss * weights).mean()


def encode_latents(vae, pixel_values: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """VAE latents of a batch of [-1, 1] images, scaled as the UNet expects."""
    latents = vae.encode(pixel_values.to(vae.dtype)).latent_dist.sample(generator=generator)
    return latents * vae.config.scaling_factor


@torch.no_grad()
def fixed_denoising_loss(
    unet, vae, text_encoder, noise_scheduler, batch: dict, seed: int = 0, repeats: int = 8
) -> float:
    """The denoising loss of `batch` averaged over `repeats` draws of noise and timesteps from `seed`: the same
    draws for any weights, so two models (base and base + LoRA) are compared on equal terms."""
    generator = torch.Generator(device=unet.device).manual_seed(seed)
    latents = encode_latents(vae, batch["pixel_values"].to(vae.device), generator=generator)
    hidden = text_encoder(batch["input_ids"].to(text_encoder.device), return_dict=False)[0]
    losses = [denoising_loss(unet, noise_scheduler, latents, hidden, generator=generator) for _ in range(repeats)]
    return float(torch.stack(losses).mean())
