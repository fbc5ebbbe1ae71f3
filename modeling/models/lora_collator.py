"""The data collator of LoRA training: images to [-1, 1] tensors at the training resolution (crops and flips
seeded per row and epoch, so a resumed run sees what the uninterrupted one saw) and prompts to token ids."""

from __future__ import annotations

import numpy as np
import torch

from modeling.models.lora_training import image_tensor


def row_prompt(row: dict, prompt_column: str) -> str:
    """The row's prompt; a missing release prompt falls back to the template's."""
    return row.get(prompt_column) or row["prompt"]


class LoraCollator:
    """Images to [-1, 1] tensors at `resolution` and prompts to token ids; crops and flips seeded per row."""

    def __init__(self, tokenizer, resolution: int, random_crop: bool, random_flip: bool, prompt_column: str, seed: int):
        self.tokenizer, self.resolution = tokenizer, resolution
        self.random_crop, self.random_flip = random_crop, random_flip
        self.prompt_column, self.seed, self.epoch = prompt_column, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        pixels = []
        for row in rows:
            rng = np.random.default_rng((self.seed, self.epoch, int(row["token_id"])))
            flip = self.random_flip and bool(rng.integers(2))
            pixels.append(image_tensor(row["image"], self.resolution, self.random_crop, flip, rng))
        ids = self.tokenizer(
            [row_prompt(row, self.prompt_column) for row in rows],
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        return {"pixel_values": torch.stack(pixels), "input_ids": ids}
