"""First pass over each collection: which tokens are usable, and which collections the filters drop.

The paper (4.2) drops collections with fewer than 500 tokens, with all-identical images (covers), and with
no usable metadata. Token-level problems found here (no image, no or broken metadata) are counted with
their reason; image decoding problems are found later, when the image is standardised.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .attributes import MetadataError, normalize_attributes
from .release import CollectionReader, CollectionSource, MemberTooLarge, ReleaseError
from .report import Tally

logger = logging.getLogger(__name__)

DEFAULT_MIN_TOKENS = 500
IDENTICAL_PROBE = 16  # hash this many images first; hash all only if they are all the same


@dataclass
class CollectionScan:
    """What the scan found in one collection."""

    source: CollectionSource
    usable: list[str] = field(default_factory=list)  # token ids in numeric order
    tally: Tally = field(default_factory=Tally)  # tokens skipped during the scan, by reason
    dropped: str | None = None

    @property
    def name(self) -> str:
        return self.source.name


def read_attributes(reader: CollectionReader, member: str):
    """The normalised attributes of one metadata file; raises `MetadataError` with a counted reason."""
    try:
        metadata = json.loads(reader.read_text(member))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MetadataError("malformed metadata JSON", f"{reader.member_path(member)}: {err}") from None
    return normalize_attributes(metadata)


def _all_identical(reader: CollectionReader, token_ids: list[str]) -> bool:
    def digest(token_id: str) -> bytes:
        return hashlib.blake2b(reader.read_bytes(reader.tokens[token_id].image), digest_size=16).digest()

    if len(token_ids) < 2 or len({digest(t) for t in token_ids[:IDENTICAL_PROBE]}) > 1:
        return False
    return len({digest(t) for t in token_ids}) == 1


def scan_collection(source: CollectionSource, min_tokens: int = DEFAULT_MIN_TOKENS) -> CollectionScan:
    """Read every token's metadata (not its image) and apply the collection filters."""
    scan = CollectionScan(source)
    try:
        with source.open() as reader:
            for token_id in reader.token_ids():
                files = reader.tokens[token_id]
                if files.image is None:
                    scan.tally.skip("missing image", token_id)
                    continue
                if files.metadata is None:
                    scan.tally.skip("missing metadata", token_id)
                    continue
                try:
                    read_attributes(reader, files.metadata)
                except MetadataError as err:
                    scan.tally.skip(err.reason, token_id)
                    continue
                except MemberTooLarge:
                    scan.tally.skip("decompression bomb", token_id)
                    continue
                scan.usable.append(token_id)
            read = scan.tally.read + len(scan.usable)
            if not scan.usable:
                scan.dropped = "no usable metadata"
            elif len(scan.usable) < min_tokens:
                scan.dropped = f"too few tokens ({len(scan.usable)} < {min_tokens})"
            elif _all_identical(reader, scan.usable):
                scan.dropped = "all images identical"
    except (ReleaseError, OSError) as err:
        logger.error("%s: collection skipped: %s", source.path, err)
        scan.dropped = f"unreadable ({err})"
        read = scan.tally.read + len(scan.usable)
    if scan.dropped:
        logger.warning("collection %r dropped: %s (%d tokens)", source.name, scan.dropped, read)
        scan.usable = []
        scan.tally = Tally()
        if read:
            scan.tally.skip(f"collection dropped: {scan.dropped.split(' (')[0]}", n=read)
    return scan


def scan_collections(
    sources: list[CollectionSource], min_tokens: int = DEFAULT_MIN_TOKENS, num_proc: int = 1
) -> list[CollectionScan]:
    """Scan collections, in parallel with `num_proc` processes; results in the order of `sources`."""
    progress = tqdm(total=len(sources), desc="Scanning collections", unit="collection")
    if num_proc > 1 and len(sources) > 1:
        with ProcessPoolExecutor(min(num_proc, len(sources))) as pool:
            futures = [pool.submit(scan_collection, s, min_tokens) for s in sources]
            scans = []
            for future in futures:
                scans.append(future.result())
                progress.update()
    else:
        scans = []
        for source in sources:
            scans.append(scan_collection(source, min_tokens))
            progress.update()
    progress.close()
    return scans
