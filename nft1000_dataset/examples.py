"""One row per token: the standardised image, the template caption and prompt, the release's own texts.

Used by both the `datasets` builder and the Parquet export, so both give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from datasets import Features, Image, List, Value

from .attributes import MetadataError
from .captions import build_caption, build_prompt
from .media import MediaError, standardize_image
from .plan import Shard
from .release import CollectionReader, MemberTooLarge
from .report import Tally
from .scan import read_attributes

FEATURES = Features(
    {
        "image": Image(),
        "caption": Value("string"),
        "prompt": Value("string"),
        "release_caption": Value("string"),
        "release_prompt": Value("string"),
        "collection": Value("string"),
        "token_id": Value("string"),
        "attributes": List({"trait_type": Value("string"), "value": Value("string"), "display_type": Value("string")}),
    }
)


def _optional_text(reader: CollectionReader, member: str | None) -> str | None:
    if member is None:
        return None
    try:
        return reader.read_text(member).strip() or None
    except (UnicodeDecodeError, MemberTooLarge):
        return None


def token_row(reader: CollectionReader, token_id: str, image_width: int, frame_seed: str) -> dict[str, Any]:
    """The row of one token; raises `MediaError` or `MetadataError` with the reason to count."""
    files = reader.tokens[token_id]
    collection = reader.source.name
    try:
        raw = reader.read_bytes(files.image)
    except MemberTooLarge as err:
        raise MediaError("decompression bomb", str(err)) from None
    png = standardize_image(raw, width=image_width, frame_seed=f"{frame_seed}:{collection}:{token_id}")
    attributes = read_attributes(reader, files.metadata)
    return {
        "image": {"bytes": png, "path": f"{collection}_{token_id}.png"},
        "caption": build_caption(collection, attributes),
        "prompt": build_prompt(collection, attributes),
        "release_caption": _optional_text(reader, files.caption),
        "release_prompt": _optional_text(reader, files.prompt),
        "collection": collection,
        "token_id": token_id,
        "attributes": attributes,
    }


def shard_rows(shard: Shard, image_width: int, frame_seed: str, tally: Tally) -> Iterator[dict[str, Any]]:
    """The rows of a shard's tokens in order; unusable tokens are counted in `tally`, not yielded."""
    with shard.source.open() as reader:
        for token_id in shard.token_ids:
            try:
                row = token_row(reader, token_id, image_width, frame_seed)
            except (MediaError, MetadataError) as err:
                tally.skip(err.reason, token_id)
                continue
            tally.keep()
            yield row
