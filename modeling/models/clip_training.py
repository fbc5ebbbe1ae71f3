"""Pieces of CLIP fine-tuning that are not the loop: which towers train, AdamW parameter groups, and CLIP's
symmetric contrastive loss over the global batch.

`CLIPModel(return_loss=True)` sees only the batch of its own process. Here each process gathers every
process's embeddings with gradients (as open_clip's gather-with-grad does) and computes the loss over the
global batch; the gradients that flow back to each process's own embeddings are summed over processes, and
DDP's average over processes then gives exactly the single-process gradient of the same global batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def freeze_towers(model, vision: bool = False, text: bool = False) -> None:
    """Freeze the vision tower (encoder and projection) and/or the text tower."""
    towers = {
        "vision": (model.vision_model, model.visual_projection),
        "text": (model.text_model, model.text_projection),
    }
    for name, frozen in (("vision", vision), ("text", text)):
        for module in towers[name]:
            module.requires_grad_(not frozen)


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices only, none on norms, biases, embeddings' gains or logit_scale."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 (equal sizes on every process); the backward sums each slice's gradient over
    processes and hands each process the slice of its own rows."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows, ctx.rank = tensor.shape[0], dist.get_rank()
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every process in rank order, keeping the autograd graph (identity alone)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def clip_contrastive_loss(
    image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Mean of image-to-text and text-to-image cross-entropy; embeddings are L2-normalised here."""
    image_embeds = F.normalize(image_embeds.float(), dim=-1)
    text_embeds = F.normalize(text_embeds.float(), dim=-1)
    logits = logit_scale.float().exp() * text_embeds @ image_embeds.t()
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def global_batch_loss(image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """The contrastive loss over the embeddings of all processes (local batch when not distributed)."""
    return clip_contrastive_loss(gather_with_grad(image_embeds), gather_with_grad(text_embeds), logit_scale)
