"""The model card written beside a fine-tuned CLIP: data, masking, hyper-parameters, evaluation table."""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

from modeling.clip_models import TINY


def clip_model_card(
    *,
    model_name_or_path: str,
    dataset_name: str,
    dataset_config: str,
    mask_prob: float,
    hyperparameters: dict,
    evaluation_markdown: str | None,
    train_rows: int | None,
    steps: int,
    seconds: float,
) -> ModelCard:
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="zero-shot-image-classification",
        tags=["clip", "nft", "nft1000", "image-text-retrieval", "dynamic-masking"],
        datasets=[dataset_name] if "/" in dataset_name else None,
        base_model=None if model_name_or_path == TINY else model_name_or_path,
    )
    start = (
        "a small CLIP built from a config, trained from scratch"
        if model_name_or_path == TINY
        else (f"`{model_name_or_path}`")
    )
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in sorted(hyperparameters.items()))
    masking = (
        f"dynamic masking (NFT1000 paper, 5.2) with p = {mask_prob}: each separated component hidden with "
        "probability p and its phrase dropped from the caption"
        if mask_prob > 0
        else "no masking (p = 0)"
    )
    evaluation = evaluation_markdown or "No evaluation split was given."
    content = f"""---
{data.to_yaml()}
---

# CLIP fine-tuned on NFT1000

Fine-tuned from {start} on `{dataset_name}` (config `{dataset_config}`, {train_rows or "streamed"} training pairs)
with {masking}, for {steps} optimizer steps ({seconds / 60:.1f} minutes), with `train_clip.py` of the
`nft1000` package. Text-image pairs of PFP collections: captions read
"An NFT from <collection> with <trait>: <value>; ...".

```python
from transformers import CLIPModel, CLIPProcessor

model = CLIPModel.from_pretrained("<this folder or repo>")
processor = CLIPProcessor.from_pretrained("<this folder or repo>")
```

## Evaluation

Retrieval top-k (percent) on the evaluation split, over the whole split. "paired (paper)": the paired item must
be in the top k, as in the NFT1000 paper; "attribute-exact": any item of the same collection with identical
attributes (hence an identical caption) counts.

{evaluation}

## Training hyper-parameters

| argument | value |
| --- | --- |
{rows}
"""
    return ModelCard(content)


def lora_model_card(
    *,
    base_model: str,
    dataset_name: str,
    collection: str,
    prompts: list[str],
    hyperparameters: dict,
    train_rows: int,
    fixed_loss: dict[str, float],
    steps: int,
    seconds: float,
) -> ModelCard:
    """The card of a collection-style LoRA: base, data, sample grid (``samples.png``) and how to use it."""
    data = ModelCardData(
        library_name="diffusers",
        pipeline_tag="text-to-image",
        tags=["stable-diffusion", "text-to-image", "diffusers", "diffusers-training", "lora", "nft", "nft1000"],
        datasets=[dataset_name] if "/" in dataset_name else None,
        base_model=None if base_model == TINY else base_model,
        instance_prompt=f"{collection} style PFP",
    )
    base = "a small pipeline built from configs (`tiny-base/`, offline)" if base_model == TINY else f"`{base_model}`"
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in sorted(hyperparameters.items()))
    listed = "\n".join(f"{i + 1}. `{prompt}`" for i, prompt in enumerate(prompts))
    content = f"""---
{data.to_yaml()}
---

# LoRA: the {collection} style on {base}

LoRA weights for the UNet's attention projections of {base}, trained on the {train_rows} tokens of the NFT
collection {collection} from `{dataset_name}` for {steps} optimizer steps ({seconds / 60:.1f} minutes) with
`train_lora.py` of the `nft1000` package. Prompts name the collection and each trait:
"{collection} style PFP, <value> <trait type>, ...". Denoising loss on training images with fixed noise and
timesteps: {fixed_loss["before"]:.4f} for the base, {fixed_loss["after"]:.4f} with this LoRA.

![samples](samples.png)

Samples, left to right:
{listed}

```python
from diffusers import StableDiffusionPipeline

pipeline = StableDiffusionPipeline.from_pretrained("<base model>")
pipeline.load_lora_weights("<this folder or repo>")
image = pipeline("{collection} style PFP, ...").images[0]
```

Or with the traits checked against the collection's (`nft1000_lora.json`):
`nft1000 generate --lora <this folder> --traits "<Trait>=<Value>" ...`

## Training hyper-parameters

| argument | value |
| --- | --- |
{rows}
"""
    return ModelCard(content)
