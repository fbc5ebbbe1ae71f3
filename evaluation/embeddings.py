"""Image and text embeddings of a whole split, computed in batches and cached on disk (safetensors).

The cache key is the model (its config and weight files' sizes and times, or the checkpoint name) and the
split (the `datasets` fingerprint and length), so a rerun of the evaluation, or the CVI report, reuses them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, Image
from safetensors.numpy import load_file, save
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from modeling.masking.collator import DynamicMaskingCollator
from nft1000_io.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)
DEFAULT_CACHE_DIR = Path(os.environ.get("NFT1000_CACHE", Path.home() / ".cache" / "nft1000")) / "embeddings"


@dataclass
class SplitEmbeddings:
    """L2-normalised embeddings of a split, row i of each paired, with the rows' collections and groups."""

    image_embeds: np.ndarray
    text_embeds: np.ndarray
    collections: list[str]
    groups: np.ndarray  # same id = same collection and identical attributes (identical captions)


def attribute_groups(dataset: Dataset) -> tuple[list[str], np.ndarray]:
    """Collections of the rows, and a group id per row: same collection and the same set of attributes. A plain
    image-caption dataset (no ``collection`` or ``attributes`` column) is one collection, grouped by caption."""
    names = dataset.column_names
    collections = list(dataset["collection"]) if "collection" in names else [""] * len(dataset)
    keys = dataset["attributes"] if "attributes" in names else dataset["caption"]
    ids: dict[tuple, int] = {}
    groups = np.empty(len(collections), dtype=np.int64)
    for i, (collection, key) in enumerate(zip(collections, keys, strict=True)):
        described = tuple(sorted((a["trait_type"], a["value"]) for a in key)) if isinstance(key, list) else key
        groups[i] = ids.setdefault((collection, described), len(ids))
    return collections, groups


def model_key(model, name_or_path: str | None) -> str:
    """Identifies the model's weights: files' sizes and times for a local folder, else the name and config."""
    parts = [name_or_path or "", model.config.to_json_string()]
    if name_or_path and Path(name_or_path).is_dir():
        for file in sorted(Path(name_or_path).glob("*.safetensors")):
            stat = file.stat()
            parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@torch.no_grad()
def encode_split(
    model, processor, dataset: Dataset, batch_size: int = 256, num_workers: int = 0, device: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image and text embeddings of every row (the unmasked pipeline), as float32 arrays."""
    device = device or next(model.parameters()).device
    collator = DynamicMaskingCollator(processor, mask_prob=0.0)
    columns = dataset.select_columns([c for c in ("image", "caption", "collection") if c in dataset.column_names])
    columns = columns.cast_column("image", Image(decode=False))  # the collator decodes, faster
    loader = DataLoader(columns, batch_size=batch_size, collate_fn=collator, num_workers=num_workers)
    was_training = model.training
    model.eval()
    images, texts = [], []
    for batch in tqdm(loader, desc="embeddings", unit="batch", disable=None):
        batch = {k: v.to(device) for k, v in batch.items()}
        image = model.get_image_features(pixel_values=batch["pixel_values"]).pooler_output
        text = model.get_text_features(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).pooler_output
        images.append(torch.nn.functional.normalize(image.float(), dim=-1).cpu().numpy())
        texts.append(torch.nn.functional.normalize(text.float(), dim=-1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(images), np.concatenate(texts)


def split_embeddings(
    model,
    processor,
    dataset: Dataset,
    *,
    name_or_path: str | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 256,
    num_workers: int = 0,
) -> SplitEmbeddings:
    """Embeddings of `dataset`, read from `cache_dir` when this model and split were encoded before."""
    collections, groups = attribute_groups(dataset)
    cache = None
    if cache_dir is not None:
        key = f"{model_key(model, name_or_path)}-{dataset._fingerprint}-{len(dataset)}"
        cache = Path(cache_dir) / f"embeddings-{key}.safetensors"
    if cache is not None and cache.is_file():
        logger.info("embeddings read from %s", cache)
        arrays = load_file(str(cache))
        return SplitEmbeddings(arrays["image_embeds"], arrays["text_embeds"], collections, groups)
    image_embeds, text_embeds = encode_split(model, processor, dataset, batch_size, num_workers)
    if cache is not None:
        metadata = {"model": str(name_or_path), "rows": str(len(dataset))}
        atomic_write_bytes(cache, save({"image_embeds": image_embeds, "text_embeds": text_embeds}, metadata=metadata))
        logger.info("embeddings cached in %s", cache)
    return SplitEmbeddings(image_embeds, text_embeds, collections, groups)
