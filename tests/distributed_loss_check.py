"""Run by `accelerate launch --num_processes 2` from test_train_clip.py: the global-batch loss and its
gradients on 2 processes (each holding half of one global batch) against one process holding all of it.

Writes JSON to argv[1] from the main process."""

import json
import sys

import torch
from accelerate import Accelerator
from transformers import CLIPConfig, CLIPModel

from modeling.models.clip_training import clip_contrastive_loss, global_batch_loss

GLOBAL_BATCH = 8


def tiny_model() -> CLIPModel:
    torch.manual_seed(0)
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    text = {**tower, "vocab_size": 50, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1}
    config = CLIPConfig(
        text_config={**text, "pad_token_id": 1},
        vision_config={**tower, "image_size": 16, "patch_size": 8},
        projection_dim=16,
    )
    return CLIPModel(config)


def global_batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(2, 50, (GLOBAL_BATCH, 6), generator=generator)
    input_ids[:, -1] = 1  # end of text
    return {
        "pixel_values": torch.randn(GLOBAL_BATCH, 3, 16, 16, generator=generator),
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
    }


def main(out: str) -> None:
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(tiny_model())
    batch = global_batch()
    per_process = GLOBAL_BATCH // accelerator.num_processes
    mine = slice(accelerator.process_index * per_process, (accelerator.process_index + 1) * per_process)
    output = model(**{key: value[mine] for key, value in batch.items()}, return_loss=True)
    unwrapped = accelerator.unwrap_model(model)
    loss = global_batch_loss(output.image_embeds, output.text_embeds, unwrapped.logit_scale)
    accelerator.backward(loss)
    losses = accelerator.gather(torch.stack([loss.detach(), output.loss.detach()])[None]).tolist()
    if accelerator.is_main_process:
        write_reference_comparison(out, accelerator, unwrapped, batch, losses)
    accelerator.wait_for_everyone()
    torch.distributed.destroy_process_group()


def write_reference_comparison(out: str, accelerator, unwrapped, batch, losses) -> None:
    reference = tiny_model()
    full = reference(**batch, return_loss=True)
    reference_loss = clip_contrastive_loss(full.image_embeds, full.text_embeds, reference.logit_scale)
    reference_loss.backward()
    gradients = dict(unwrapped.named_parameters())
    difference = max((gradients[n].grad - p.grad).abs().max().item() for n, p in reference.named_parameters())
    scale = max(p.grad.abs().max().item() for p in reference.parameters())
    result = {
        "world_size": accelerator.num_processes,
        "backend": str(torch.distributed.get_backend()) if torch.distributed.is_initialized() else None,
        "global_losses": [row[0] for row in losses],
        "local_builtin_losses": [row[1] for row in losses],
        "reference_loss": reference_loss.item(),
        "builtin_full_batch_loss": full.loss.item(),
        "max_gradient_difference": difference,
        "max_gradient": scale,
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(sys.argv[1])
