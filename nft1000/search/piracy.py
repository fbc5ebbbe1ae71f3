"""Near-duplicates of a protected collection's tokens in the other collections (paper, 6.4): candidates by image
embedding similarity, confirmed by perceptual hashes, so that recolours, flips, crops and re-encodes are caught
while tokens that merely share a style are not."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from nft1000_io.text import markdown_cell

from .hashing import HASH_BITS, BandTable, hash_distance

if TYPE_CHECKING:
    from .index import NFTIndex


@dataclass
class PiracyOptions:
    similarity: float = 0.5  # image-embedding cosine a candidate needs
    hash_bits: int = 34  # the largest hash distance (of 256 bits) that confirms a copy
    near_identical: float = 0.995  # from this image similarity on, a looser hash distance confirms...
    near_identical_hash_bits: int = 64  # ...this one (heavy re-encoding moves many bits of flat images)
    candidates: int = 20  # nearest images examined per protected token, besides those sharing a hash band

    def confirms(self, similarity: np.ndarray, bits: np.ndarray) -> np.ndarray:
        strict = (similarity >= self.similarity) & (bits <= self.hash_bits)
        return strict | ((similarity >= self.near_identical) & (bits <= self.near_identical_hash_bits))


def detect_piracy(index: NFTIndex, collection: str, options: PiracyOptions | None = None) -> dict:
    """Every (protected token, suspect token) pair that passes both tests, and per suspect its closest match."""
    options = options or PiracyOptions()
    if collection not in index.collections:
        raise ValueError(f"{index.path}: no collection {collection!r} in the index (have: {index.collections})")
    protected = np.flatnonzero(index.collection_of == collection)
    others = np.flatnonzero(index.collection_of != collection)
    pairs = []
    if len(others):
        _, nearest = index.nearest_images(protected, others, options.candidates)
        bands = BandTable(index.hashes[others], others)
        for i, original in enumerate(protected):
            suspects = np.union1d(nearest[i], bands.candidates(index.hashes[original]))
            similarity = index.image_embeds[suspects] @ index.image_embeds[original]
            distances = hash_distance(index.hashes[original], index.hashes[suspects])
            confirmed = options.confirms(similarity, distances)
            for suspect, sim, bits in zip(
                suspects[confirmed], similarity[confirmed], distances[confirmed], strict=True
            ):
                pairs.append(_pair(index, int(original), int(suspect), float(sim), int(bits)))
    best: dict[int, dict] = {}
    for pair in sorted(pairs, key=lambda p: (p["hash_distance"], -p["similarity"])):
        best.setdefault(pair["suspect_row"], pair)
    suspects = sorted(best.values(), key=lambda p: (p["hash_distance"], -p["similarity"]))
    return {
        "collection": collection,
        "options": asdict(options) | {"hash_size_bits": HASH_BITS},
        "protected_tokens": len(protected),
        "compared_tokens": len(others),
        "pairs": len(pairs),
        "suspects": suspects,
        "suspects_by_collection": dict(Counter(p["suspect"]["collection"] for p in suspects).most_common()),
    }


def _pair(index: NFTIndex, original: int, suspect: int, similarity: float, bits: int) -> dict:
    def token(row: int) -> dict:
        meta = index.row(row)
        return {"collection": meta["collection"], "token_id": meta["token_id"]}

    return {
        "original": token(original),
        "suspect": token(suspect),
        "original_row": original,
        "suspect_row": suspect,
        "similarity": similarity,
        "hash_distance": bits,
    }


def _token_cell(token: dict) -> str:
    return markdown_cell(f"{token['collection']} #{token['token_id']}")


def piracy_markdown(report: dict, limit: int = 50) -> str:
    lines = [
        f"# Piracy report: {markdown_cell(report['collection'])}",
        "",
        f"{report['protected_tokens']} protected tokens compared with {report['compared_tokens']} tokens of other "
        f"collections: {len(report['suspects'])} suspected copies (image similarity >= "
        f"{report['options']['similarity']} and hash distance <= {report['options']['hash_bits']} of "
        f"{report['options']['hash_size_bits']} bits, or similarity >= {report['options']['near_identical']} and "
        f"distance <= {report['options']['near_identical_hash_bits']}).",
        "",
        "| collection | suspected copies |",
        "| --- | ---: |",
        *(f"| {markdown_cell(name)} | {count} |" for name, count in report["suspects_by_collection"].items()),
        "",
        "| suspect | closest original | image similarity | hash distance |",
        "| --- | --- | ---: | ---: |",
    ]
    for pair in report["suspects"][:limit]:
        suspect, original = pair["suspect"], pair["original"]
        lines.append(
            f"| {_token_cell(suspect)} | {_token_cell(original)} | {pair['similarity']:.3f} | {pair['hash_distance']} |"
        )
    return "\n".join(lines) + "\n"


def piracy_sheet(report: dict, image_of: Callable[[str, str], Image.Image], limit: int = 16, size: int = 128):
    """A PNG sheet of the closest pairs, original left and suspect right, each labelled; `image_of(collection,
    token_id)` returns a token's image."""
    pairs = report["suspects"][:limit]
    label = 28
    sheet = Image.new("RGB", (2 * size + 12, max(1, len(pairs)) * (size + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, pair in enumerate(pairs):
        top = i * (size + label)
        for j, side in enumerate(("original", "suspect")):
            token = pair[side]
            with image_of(token["collection"], token["token_id"]) as image:
                sheet.paste(image.convert("RGB").resize((size, size)), (j * (size + 12), top))
            draw.text((j * (size + 12), top + size + 2), f"{token['collection'][:18]} #{token['token_id']}", "black")
        draw.text((0, top + size + 14), f"sim {pair['similarity']:.2f}, hash {pair['hash_distance']} bits", "red")
    return sheet


def write_piracy(report: dict, out: Path, image_of: Callable[[str, str], Image.Image] | None = None) -> list[Path]:
    """``piracy.json``, ``piracy.md`` and, with `image_of` and suspects, ``pairs.png`` in `out`; returns them."""
    from nft1000_io.atomic import atomic_write_png, atomic_write_text

    written = [out / "piracy.json", out / "piracy.md"]
    atomic_write_text(written[0], json.dumps(report, indent=2))
    atomic_write_text(written[1], piracy_markdown(report))
    if image_of is not None and report["suspects"]:
        written.append(out / "pairs.png")
        atomic_write_png(written[-1], piracy_sheet(report, image_of))
    return written
