"""One row per token: the standardised image, the template caption and prompt, the release's own texts.

Used by both the `datasets` builder and the Parquet export, so both give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from datasets import Features, Image, List, Value

from nft1000_io.text import clean_text, needs_cleaning

from .attributes import MetadataError
from .captions import CAPTION_BOUND, MAX_CAPTION_CHARS, build_caption, build_prompt, fit_attributes
from .media import standardize_image
from .plan import Shard
from .release import MAX_CAPTION_BYTES, CollectionReader, UnreadableFile
from .report import Tally
from .scan import log_skip, read_attributes, token_problem

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


def _optional_text(reader: CollectionReader, member: str | None, label: str, notes: Tally | None) -> str | None:
    """The release's own caption or prompt, cleaned as attribute text is and at most `MAX_CAPTION_CHARS` long, or
    None (counted in `notes`) when it cannot be read as text."""
    if member is None:
        return None
    try:
        text, encoding = reader.read_text(member, MAX_CAPTION_BYTES)
    except UnreadableFile as err:
        if notes is not None:
            notes.note(f"{label} left out: {err.reason}", member)
        return None
    cleaned = clean_text(text)
    if notes is not None:
        if encoding != "utf-8":
            notes.note(f"{label} read as {encoding}", member)
        if needs_cleaning(text):
            notes.note(f"{label} cleaned of control or invisible characters", member)
        if len(cleaned) > MAX_CAPTION_CHARS:
            notes.note(f"{label} cut to {MAX_CAPTION_CHARS} characters", member)
    return cleaned[:MAX_CAPTION_CHARS] or None


def token_row(
    reader: CollectionReader, token_id: str, image_width: int, frame_seed: str, notes: Tally | None = None
) -> dict[str, Any]:
    """The row of one token; raises `MediaError`, `MetadataError` or `UnreadableFile` with the reason to count.
    What is left out or read differently without costing the token is counted in `notes`."""
    files = reader.tokens[token_id]
    collection = reader.source.name
    if files.refused:
        raise MetadataError(files.refused)
    png = standardize_image(
        reader.read_bytes(files.image), width=image_width, frame_seed=f"{frame_seed}:{collection}:{token_id}"
    )
    attributes = read_attributes(reader, files.metadata, notes)
    if len(fitted := fit_attributes(collection, attributes)) < len(attributes) and notes is not None:
        notes.note(CAPTION_BOUND, files.metadata, len(attributes) - len(fitted))
    attributes = fitted
    return {
        "image": {"bytes": png, "path": f"{collection}_{token_id}.png"},
        "caption": build_caption(collection, attributes),
        "prompt": build_prompt(collection, attributes),
        "release_caption": _optional_text(reader, files.caption, "release caption", notes),
        "release_prompt": _optional_text(reader, files.prompt, "release prompt", notes),
        "collection": collection,
        "token_id": token_id,
        "attributes": attributes,
    }


def shard_rows(shard: Shard, image_width: int, frame_seed: str, tally: Tally) -> Iterator[dict[str, Any]]:
    """The rows of a shard's tokens in order; unusable tokens are counted in `tally`, not yielded. No token's
    failure, whatever it is, stops the shard: each is a counted skip, logged with the file and the reason."""
    with shard.source.open() as reader:
        for token_id in shard.token_ids:
            try:
                row = token_row(reader, token_id, image_width, frame_seed, tally)
            except Exception as err:
                tally.skip(token_problem(err), token_id)
                log_skip(reader, token_id, err)
                continue
            tally.keep()
            yield row
