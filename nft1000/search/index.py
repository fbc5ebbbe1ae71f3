"""An on-disk index of NFT tokens: image and caption embeddings of a trained CLIP, perceptual hashes and each
token's collection, id, caption and attributes, one shard per collection.

    INDEX/index.json                 model (absolute path or Hub id), its key, the dataset and config, dimension,
                                     collections -> shard and row count (written last)
    INDEX/shards/<id>.safetensors    image_embeds, text_embeds (float32, L2-normalised), hashes (uint8 n x 6 x 32)
    INDEX/shards/<id>.jsonl          one row per token: collection, token_id, caption, attributes
    INDEX/ann-{image,text}.faiss     optional approximate (HNSW) indexes, see `build_ann`

Adding a collection writes its shard, then the manifest (atomically): an interrupted add leaves the index as it
was, and a rerun adds what is missing. Opening reads the shards memory-mapped and concatenates them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset
from safetensors.numpy import load_file, save
from tqdm.auto import tqdm

from evaluation.embeddings import encode_split, model_key
from evaluation.topk import top_k
from nft1000_io.atomic import atomic_write_bytes, atomic_write_text
from nft1000_io.hub import portable_name
from nft1000_io.optional import import_extra

from .hashing import perceptual_hashes

logger = logging.getLogger(__name__)
MANIFEST = "index.json"
TARGETS = ("image", "caption", "both")


@dataclass
class Hit:
    """One search result; `row` is the token's position in the index."""

    row: int
    score: float
    collection: str
    token_id: str
    caption: str
    attributes: list[dict]


def weights_key(model) -> str:
    """Identifies a model by its weights, wherever its folder lies: each tensor's name, shape and sum."""
    parts = [model.config.to_json_string()]
    for name, tensor in model.state_dict().items():
        parts.append(f"{name}:{tuple(tensor.shape)}:{float(tensor.double().sum()):.17g}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def same_model(manifest: dict, model, name_or_path: str) -> bool:
    """Whether `model` is the one the index was built with (an index written before ``weights_key`` was
    recorded compares its older key, of the path and files' times)."""
    if "weights_key" in manifest:
        return weights_key(model) == manifest["weights_key"]
    return model_key(model, name_or_path) == manifest["model_key"]


def _shard_id(collection: str) -> str:
    return hashlib.sha1(collection.encode()).hexdigest()[:16]


class NFTIndex:
    """The tokens of an index, in memory: embeddings, hashes and rows, with exact and approximate search."""

    def __init__(self, path: Path, manifest: dict):
        self.path, self.manifest = Path(path), manifest
        self._ann: dict[str, object] = {}
        self._load()

    def _load(self) -> None:
        """Read every shard of the manifest into memory."""
        shards = [self._read_shard(info["shard"]) for info in self.manifest["collections"].values()]
        dim = self.manifest.get("dim") or 0
        self.image_embeds = np.concatenate([s[0]["image_embeds"] for s in shards]) if shards else np.zeros((0, dim))
        self.text_embeds = np.concatenate([s[0]["text_embeds"] for s in shards]) if shards else np.zeros((0, dim))
        self.hashes = np.concatenate([s[0]["hashes"] for s in shards]) if shards else np.zeros((0, 6, 32), np.uint8)
        self._lines = [line for shard in shards for line in shard[1]]  # parsed when a row is asked for
        names = list(self.manifest["collections"])
        sizes = [len(shard[1]) for shard in shards]
        self.collection_of = np.repeat(np.array(names, dtype=object), sizes) if shards else np.array([], object)

    @classmethod
    def create(
        cls, path: str | Path, model_name_or_path: str, model, dataset: str | None = None, config: str | None = None
    ) -> NFTIndex:
        """An empty index for embeddings of `model`, recorded (an absolute path, or a Hub id) so that queries from
        any folder use the same one, with the dataset and config its rows come from."""
        path = Path(path)
        if (path / MANIFEST).is_file():
            raise FileExistsError(f"{path}: an index is already there (open it to add collections)")
        manifest = {
            "model": portable_name(model_name_or_path),
            "model_key": model_key(model, model_name_or_path),
            "weights_key": weights_key(model),
            "dataset": portable_name(dataset) if dataset else None,
            "config": config,
            "dim": None,
            "collections": {},
        }
        atomic_write_text(path / MANIFEST, json.dumps(manifest, indent=2))
        return cls(path, manifest)

    @classmethod
    def open(cls, path: str | Path) -> NFTIndex:
        manifest_path = Path(path) / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{path}: no search index ({MANIFEST} missing); build one with `nft1000 index`")
        return cls(Path(path), json.loads(manifest_path.read_text(encoding="utf-8")))

    def _read_shard(self, shard: str) -> tuple[dict[str, np.ndarray], list[str]]:
        arrays = load_file(str(self.path / "shards" / f"{shard}.safetensors"))
        return arrays, (self.path / "shards" / f"{shard}.jsonl").read_text(encoding="utf-8").splitlines()

    def row(self, index: int) -> dict:
        """The collection, token id, caption and attributes of the token at `index`."""
        return json.loads(self._lines[index])

    def source(self, dataset: str | None = None, config: str | None = None) -> tuple[str | None, str]:
        """The dataset and config whose images the results show: those given, else those the index records."""
        return dataset or self.manifest.get("dataset"), config or self.manifest.get("config") or "mini"

    @property
    def collections(self) -> list[str]:
        return list(self.manifest["collections"])

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, dataset: Dataset, model, processor, *, replace: bool = False, batch_size: int = 256) -> dict:
        """Embed and hash the collections of `dataset` not yet indexed (all of them with `replace`), one shard
        each; returns {"added": [...], "skipped": [...]} (skipped: already there)."""
        if not same_model(self.manifest, model, self.manifest["model"]):
            raise ValueError(f"{self.path}: indexed with {self.manifest['model']}; this model's weights differ")
        by_collection: dict[str, list[int]] = {}
        for i, name in enumerate(dataset["collection"]):
            by_collection.setdefault(name, []).append(i)
        report = {"added": [], "skipped": []}
        for name, indices in by_collection.items():
            if name in self.manifest["collections"] and not replace:
                report["skipped"].append(name)
                continue
            part = dataset.select(indices)
            image_embeds, text_embeds = encode_split(model, processor, part, batch_size=batch_size)
            images = part.select_columns(["image"])
            hashes = np.stack(
                [perceptual_hashes(row["image"]) for row in tqdm(images, desc=f"hashes {name}", disable=None)]
            )
            shard = _shard_id(name)
            tensors = {"image_embeds": image_embeds, "text_embeds": text_embeds, "hashes": hashes}
            atomic_write_bytes(self.path / "shards" / f"{shard}.safetensors", save(tensors))
            meta = part.select_columns(["collection", "token_id", "caption", "attributes"])
            atomic_write_text(self.path / "shards" / f"{shard}.jsonl", "".join(json.dumps(r) + "\n" for r in meta))
            self.manifest["collections"][name] = {"shard": shard, "rows": len(indices)}
            self.manifest["dim"] = int(image_embeds.shape[1])
            self.manifest.pop("ann", None)  # the approximate indexes no longer cover every row
            atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=2))
            report["added"].append(name)
            logger.info("indexed %s: %d tokens", name, len(indices))
        self._ann.clear()
        self._load()
        return report

    def build_ann(self, m: int = 32, ef_construction: int = 200) -> None:
        """HNSW indexes (faiss) over the image and the caption embeddings, for approximate search."""
        faiss = import_extra("faiss", "search", "the approximate index (--ann)")

        for target, embeds in (("image", self.image_embeds), ("text", self.text_embeds)):
            ann = faiss.IndexHNSWFlat(embeds.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            ann.hnsw.efConstruction = ef_construction
            ann.add(np.ascontiguousarray(embeds, dtype=np.float32))
            atomic_write_bytes(self.path / f"ann-{target}.faiss", faiss.serialize_index(ann).tobytes())
        self.manifest["ann"] = {"rows": len(self), "m": m}
        atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=2))

    def _approximate(self, target: str, query: np.ndarray, k: int, ef_search: int) -> np.ndarray:
        faiss = import_extra("faiss", "search", "approximate search (--ann)")

        if target not in self._ann:
            self._ann[target] = faiss.read_index(str(self.path / f"ann-{target}.faiss"))
        ann = self._ann[target]
        ann.hnsw.efSearch = max(ef_search, k)
        _, found = ann.search(np.ascontiguousarray(query[None], dtype=np.float32), k)
        return found[0][found[0] >= 0]

    def search_vector(
        self,
        query: np.ndarray,
        k: int = 10,
        *,
        target: str = "image",
        collection: str | None = None,
        approximate: bool = False,
        ef_search: int = 128,
    ) -> list[Hit]:
        """Tokens most similar to a normalised query embedding: against their images, their captions, or the
        mean of both; within one collection when given. `approximate` uses the HNSW indexes for candidates
        (k x 4 of each), rescored exactly."""
        if target not in TARGETS:
            raise ValueError(f"target {target!r}: one of {TARGETS}")
        if collection is not None and collection not in self.manifest["collections"]:
            raise ValueError(f"{self.path}: no collection {collection!r} in the index")
        query = np.asarray(query, dtype=np.float32)
        if collection is not None:
            candidates = np.flatnonzero(self.collection_of == collection)
        elif approximate:
            if self.manifest.get("ann", {}).get("rows") != len(self):
                raise ValueError(f"{self.path}: no approximate index for these rows; run `nft1000 index --ann`")
            parts = {"image": ["image"], "caption": ["text"], "both": ["image", "text"]}[target]
            candidates = np.unique(np.concatenate([self._approximate(p, query, 4 * k, ef_search) for p in parts]))
        else:
            candidates = None
        galleries = {"image": (self.image_embeds,), "caption": (self.text_embeds,)}.get(
            target, (self.image_embeds, self.text_embeds)
        )
        if candidates is not None:
            galleries = tuple(gallery[candidates] for gallery in galleries)
        scores, order = top_k(query[None], galleries, k)
        rows = order[0] if candidates is None else candidates[order[0]]
        return [self.hit(int(row), float(score)) for row, score in zip(rows, scores[0], strict=True)]

    def hit(self, row: int, score: float) -> Hit:
        meta = self.row(row)
        return Hit(row, score, meta["collection"], meta["token_id"], meta["caption"], meta["attributes"])

    def nearest_images(self, rows: np.ndarray, among: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """For each token in `rows`, the `k` tokens of `among` with the most similar images: (scores, rows)."""
        scores, positions = top_k(self.image_embeds[rows], self.image_embeds[among], k)
        return scores, among[positions]
