"""The model cards written beside a fine-tuned CLIP and a LoRA: metadata the Hub reads (`ModelCardData`:
licence, base model, datasets that are Hub ids, the evaluation as model-index results), then the text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id

from evaluation.report import whole_split_markdown
from modeling.masking.policy import SCARCITY_THRESHOLD
from modeling.models.clip import TINY
from nft1000_io.atomic import atomic_write_text
from nft1000_io.hub import looks_local

if TYPE_CHECKING:
    from evaluation.report import RetrievalReport

PAPER = "https://arxiv.org/abs/2402.16872"
# the weights carry the terms of their training images (each collection's creators) and of the base model
LICENSE = {"license": "other", "license_name": "nft1000", "license_link": "https://github.com/ShuxunoO/NFT-Net"}
# retrieval ranks by embeddings: the Hub's task for them (its "text-to-image" and "image-to-text" are generation);
# one task for both directions (the model-index groups results by task), each metric naming its direction
RETRIEVAL_TASK = ("feature-extraction", "Image-text retrieval")
DIRECTIONS = {"text_to_image": "Text-to-image", "image_to_text": "Image-to-text"}
LOCAL_DATASET = "local"  # model-index needs a dataset type: a Hub id where there is one, never a local path
EVAL_SECTION = "## Evaluation with `nft1000 eval`"
NOTHING_EVALUATED = (
    "This run evaluated nothing (no evaluation split, no held-out tokens); `nft1000 eval --model <this folder> "
    "--update-model-card` adds results."
)
EVALUATED_LATER = f"This run evaluated nothing itself; the results below ({EVAL_SECTION[3:]}) were added later."


def hub_dataset(name: str) -> list[str] | None:
    """`[name]` when it is a Hub dataset id (not a local path, `looks_local`), else None: the card's `datasets`."""
    if looks_local(name):
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return [name]


def retrieval_results(
    reports: dict[str, RetrievalReport], dataset_name: str, config: str | None, splits: dict[str, str | None]
) -> list[EvalResult]:
    """The whole-split top-k (paired target, the paper's) of each evaluation protocol's report (``{protocol:
    report}``; `splits` gives each protocol's split) as model-index results, the protocol in the dataset's name."""
    hub = hub_dataset(dataset_name)
    label = Path(dataset_name).name or dataset_name
    results = []
    for protocol, report in reports.items():
        for direction, direction_name in DIRECTIONS.items():
            for k, value in report.top(direction).items():
                results.append(
                    EvalResult(
                        task_type=RETRIEVAL_TASK[0],
                        task_name=RETRIEVAL_TASK[1],
                        dataset_type=hub[0] if hub else LOCAL_DATASET,
                        dataset_name=f"{label}, {protocol}",
                        dataset_config=config,
                        dataset_split=splits.get(protocol),
                        metric_type=f"{direction}_recall@{k.removeprefix('top')}",
                        metric_name=f"{direction_name} retrieval {k} (paired, %)",
                        metric_value=round(float(value), 2),
                    )
                )
    return results


def add_eval_results(folder: Path, results: list[EvalResult], markdown: str) -> None:
    """Put `results` into the model-index of the card in `folder` (replacing results of the same task, dataset,
    split and metric) and `markdown` under `EVAL_SECTION`; the card stays as it was otherwise."""
    path = Path(folder) / "README.md"
    card = ModelCard.load(path) if path.is_file() else ModelCard("---\n---\n")

    def key(r: EvalResult) -> tuple:
        return (r.task_type, r.dataset_name, r.dataset_config, r.dataset_split, r.metric_type)

    fresh = {key(r) for r in results}
    card.data.eval_results = [r for r in card.data.eval_results or [] if key(r) not in fresh] + results
    card.data.model_name = card.data.model_name or Path(folder).name
    text = card.text.split(f"\n{EVAL_SECTION}\n")[0].rstrip("\n").replace(NOTHING_EVALUATED, EVALUATED_LATER)
    card.text = f"{text}\n\n{EVAL_SECTION}\n\n{markdown.strip()}\n"
    atomic_write_text(path, str(card))


def update_model_cards(
    reports: dict[str, RetrievalReport], dataset: str, config: str, split: str, protocol: str, title: str
) -> None:
    """`nft1000 eval --update-model-card`: each model folder's report (``{folder: report}``) into its card."""
    for folder, report in reports.items():
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: --update-model-card needs a local model folder to write the card in")
        results = retrieval_results({protocol: report}, dataset, config, {protocol: split})
        add_eval_results(Path(folder), results, f"{title}\n\n{whole_split_markdown({'this model': report})}")


def clip_model_card(
    *,
    model_name: str,
    model_name_or_path: str,
    dataset_name: str,
    dataset_config: str | None,
    mask_prob: float,
    hyperparameters: dict,
    evaluation_markdown: str | None,
    evaluations: dict[str, RetrievalReport],
    eval_splits: dict[str, str | None],
    train_rows: int | None,
    steps: int,
    seconds: float,
    carried_occurrences: dict[str, float] | None = None,
) -> ModelCard:
    """The card of a fine-tuned CLIP; `evaluations` (the fine-tuned model's retrieval report per protocol, each on
    its split in `eval_splits`) become its model-index results; `carried_occurrences` is the scarcity policy's
    count per training collection."""
    data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag="zero-shot-image-classification",
        tags=["clip", "nft", "nft1000", "image-text-retrieval", "dynamic-masking"],
        datasets=hub_dataset(dataset_name),
        base_model=None if model_name_or_path == TINY else model_name_or_path,
        eval_results=retrieval_results(evaluations, dataset_name, dataset_config, eval_splits) or None,
        **LICENSE,
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
    if carried_occurrences is not None:
        masking += scarcity_sentence(carried_occurrences)
    evaluation = evaluation_markdown or NOTHING_EVALUATED
    content = f"""---
{data.to_yaml()}
---

# CLIP fine-tuned on NFT1000

Fine-tuned from {start} on `{dataset_name}` (config `{dataset_config or "default"}`, {train_rows or "streamed"}
training pairs) with {masking}, for {steps} optimizer steps ({seconds / 60:.1f} minutes), with `train_clip.py` of
the `nft1000` package ([NFT1000, ACM MM 2024]({PAPER})). Text-image pairs of PFP collections: captions read
"An NFT from <collection> with <trait>: <value>; ...". The weights carry the terms of the training images
(each collection's creators) and of the base model.

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


def scarcity_sentence(carried_occurrences: dict[str, float], listed: int = 10) -> str:
    """What the scarcity policy masked, each collection named where there are at most `listed`."""
    masked = [name for name, count in carried_occurrences.items() if count < SCARCITY_THRESHOLD]
    sentence = (
        f", under the `scarcity` policy: p decays to 0 over the epochs in the {len(masked)} of "
        f"{len(carried_occurrences)} training collections whose components are carried by fewer than "
        f"{SCARCITY_THRESHOLD:g} training pairs each on average, and the others are not masked"
    )
    if len(carried_occurrences) <= listed:
        sentence += (
            " ("
            + "; ".join(
                f"{name}: {_carried(count)}, {'masked' if name in masked else 'intact'}"
                for name, count in sorted(carried_occurrences.items())
            )
            + ")"
        )
    return sentence


def _carried(count: float) -> str:
    return "no components" if count == float("inf") else f"{count:.1f} pairs a component"


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
    """The card of a collection-style LoRA: base, data, sample grid (``samples.png``) and how to use it; the
    denoising loss with fixed noise becomes its model-index result."""
    hub = hub_dataset(dataset_name)
    loss = EvalResult(
        task_type="text-to-image",
        dataset_type=hub[0] if hub else LOCAL_DATASET,
        dataset_name=f"{collection} ({Path(dataset_name).name or dataset_name})",
        metric_type="loss",
        metric_name="denoising loss, fixed noise and timesteps",
        metric_value=round(float(fixed_loss["after"]), 5),
    )
    data = ModelCardData(
        model_name="lora-" + (re.sub(r"[^a-z0-9]+", "-", collection.lower()).strip("-") or "collection"),
        library_name="diffusers",
        pipeline_tag="text-to-image",
        tags=["stable-diffusion", "text-to-image", "diffusers", "diffusers-training", "lora", "nft", "nft1000"],
        datasets=hub_dataset(dataset_name),
        base_model=None if base_model == TINY else base_model,
        instance_prompt=f"{collection} style PFP",
        eval_results=[loss],
        **LICENSE,
    )
    base = "a small pipeline built from configs (`tiny-base/`, offline)" if base_model == TINY else f"`{base_model}`"
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in sorted(hyperparameters.items()))
    listed = "\n".join(f"{i + 1}. `{prompt}`" for i, prompt in enumerate(prompts))
    samples = f"![samples](samples.png)\n\nSamples, left to right:\n{listed}" if prompts else "No samples rendered."
    content = f"""---
{data.to_yaml()}
---

# LoRA: the {collection} style on {base}

LoRA weights for the UNet's attention projections of {base}, trained on the {train_rows} tokens of the NFT
collection {collection} from `{dataset_name}` for {steps} optimizer steps ({seconds / 60:.1f} minutes) with
`train_lora.py` of the `nft1000` package. Prompts name the collection and each trait:
"{collection} style PFP, <value> <trait type>, ...". Denoising loss on training images with fixed noise and
timesteps: {fixed_loss["before"]:.4f} for the base, {fixed_loss["after"]:.4f} with this LoRA.

{samples}

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
