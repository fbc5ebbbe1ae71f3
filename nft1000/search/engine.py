"""Queries against an index: text or an image, embedded by the model the index was built with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from evaluation.embeddings import model_key
from modeling.clip_models import load_clip

from .index import Hit, NFTIndex


class NFTSearch:
    """An index with its CLIP: ``NFTSearch.open("index").text("a pixel-art punk with 3D glasses", k=5)``."""

    def __init__(self, index: NFTIndex, model, processor):
        self.index, self.model, self.processor = index, model.eval(), processor

    @classmethod
    def open(cls, path: str | Path) -> NFTSearch:
        index = NFTIndex.open(path)
        model, processor = load_clip(index.manifest["model"])
        if model_key(model, index.manifest["model"]) != index.manifest["model_key"]:
            raise ValueError(f"{path}: the model at {index.manifest['model']} changed since the index was built")
        return cls(index, model, processor)

    @torch.no_grad()
    def embed_text(self, text: str) -> np.ndarray:
        inputs = self.processor(text=[text], padding=True, truncation=True, return_tensors="pt")
        features = self.model.get_text_features(**inputs).pooler_output
        return torch.nn.functional.normalize(features.float(), dim=-1)[0].numpy()

    @torch.no_grad()
    def embed_image(self, image: Image.Image) -> np.ndarray:
        inputs = self.processor(images=[image.convert("RGB")], return_tensors="pt")
        features = self.model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
        return torch.nn.functional.normalize(features.float(), dim=-1)[0].numpy()

    def text(self, query: str, k: int = 10, *, target: str = "both", **options) -> list[Hit]:
        """Tokens for a text query, scored against their images, captions, or both (the mean)."""
        return self.index.search_vector(self.embed_text(query), k, target=target, **options)

    def image(self, image: Image.Image, k: int = 10, **options) -> list[Hit]:
        """Tokens whose images are most similar to `image`."""
        return self.index.search_vector(self.embed_image(image), k, target="image", **options)
