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
