"""Queries against an index: text or an image, embedded by the model the index was built with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from modeling.models.clip import load_clip
from nft1000_io.hub import looks_local

from .index import Hit, NFTIndex, same_model


class NFTSearch:
    """An index with its CLIP: ``NFTSearch.open("index").text("a pixel-art punk with 3D glasses", k=5)``."""

    def __init__(self, index: NFTIndex, model, processor):
        self.index, self.model, self.processor = index, model.eval(), processor

    @classmethod
    def open(cls, path: str | Path, model: str | None = None) -> NFTSearch:
        """The index at `path` with the model it records, or `model` (the same weights, moved: checked)."""
        index = NFTIndex.open(path)
        name = model or index.manifest["model"]
        if model is None and looks_local(name) and not Path(name).is_dir():
            raise FileNotFoundError(
                f"{path}: the index was built with the model {name}, which is not there; pass --model with the folder "
                "or Hub id of that model"
            )
        clip, processor = load_clip(name)
        if not same_model(index.manifest, clip, name):
            raise ValueError(
                f"{path}: the model at {name} is not the one the index was built with (its weights differ)"
            )
        return cls(index, clip, processor)

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
