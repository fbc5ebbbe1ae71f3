"""Stable Diffusion 1.5-sized parts built from configs (no weights), for the LoRA speed benchmark."""

from __future__ import annotations

from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel

from modeling.models.diffusion import build_text_encoder, build_unet, build_vae


def sd15_sized_parts(tokenizer) -> tuple[UNet2DConditionModel, AutoencoderKL, CLIPTextModel]:
    """UNet (860 M parameters), VAE and text encoder (CLIP ViT-L/14's) at Stable Diffusion 1.5's size."""
    unet = build_unet((320, 640, 1280, 1280), cross_attention_dim=768, sample_size=64, layers=2)
    vae = build_vae((128, 256, 512, 512), resolution=512)
    return unet, vae, build_text_encoder(tokenizer, hidden_size=768, layers=12, heads=12, max_length=77)
