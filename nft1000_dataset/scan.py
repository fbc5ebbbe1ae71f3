"""First pass over each collection: which tokens are usable, and which collections the filters drop.

The paper (4.2) drops collections with fewer than 500 tokens, with all-identical images (covers), and with
no usable metadata; both tests count only the tokens that passed. Token-level problems found here (a refused
file or id, no image, no or broken metadata) are counted with their reason; image decoding problems are found
later, when the image is standardised. No single token stops a scan or drops its collection.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from nft1000_io.workers import process_pool

from .attributes import Attribute, MetadataError, loads_metadata, normalize_attributes
from .release import CollectionReader, CollectionSource, ReleaseError, UnreadableFile, discover_collections
from .report import Tally, printable

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


def read_attributes(reader: CollectionReader, member: str, notes: Tally | None = None) -> list[Attribute]:
    """The normalised attributes of one metadata file; raises `MetadataError` (or the reader's `UnreadableFile`)
    with a counted reason. With `notes`, counts the attribute values dropped or cleaned, the attributes left out and
    a text read in another encoding."""
    text, encoding = reader.read_text(member)
    try:
        metadata = loads_metadata(text)
    except (ValueError, RecursionError) as err:  # bad JSON, an integer of thousands of digits, deep nesting
        raise MetadataError("malformed metadata JSON", f"{reader.member_path(member)}: {_short(err)}") from None
    changes: Counter = Counter()
    try:
        attributes = normalize_attributes(metadata, changes)
    except RecursionError:
        raise MetadataError("malformed metadata", f"{reader.member_path(member)}: nested too deep") from None
    if notes is not None:
        if encoding != "utf-8":
            notes.note(f"metadata read as {encoding}", member)
        for label, n in changes.items():
            notes.note(label, member, n)
    return attributes


def _short(err: BaseException) -> str:
    return str(err)[:200]


def token_problem(err: Exception) -> str:
    """The counted reason of a token's failure: the label of our own errors, else the exception's type."""
    return getattr(err, "reason", None) or f"unexpected error ({type(err).__name__})"


def _image_digests(reader: CollectionReader, token_ids: list[str], scan: CollectionScan) -> set[bytes]:
    """Digests of the tokens' images; a token whose image cannot be read leaves ``scan.usable``, skipped with its
    reason, so that no single file decides for the collection."""
    digests = set()
    for token_id in token_ids:
        try:
            data = reader.read_bytes(reader.tokens[token_id].image)
        except UnreadableFile as err:
            scan.usable.remove(token_id)
            scan.tally.skip(err.reason, token_id)
            log_skip(reader, token_id, err)
            continue
        digests.add(hashlib.blake2b(data, digest_size=16).digest())
    return digests


def _all_identical(reader: CollectionReader, scan: CollectionScan) -> bool:
    """True if the readable images of the usable tokens are all the same file (a cover)."""
    probe = scan.usable[:IDENTICAL_PROBE]
    digests = _image_digests(reader, probe, scan)
    probed = set(probe)
    if len(digests) != 1:
        return False
    digests |= _image_digests(reader, [t for t in scan.usable if t not in probed], scan)
    return len(digests) == 1 and len(scan.usable) > 1


def _token_check(reader: CollectionReader, token_id: str) -> None:
    """Raises with the reason a token cannot be used, from its files and metadata (its image is read later)."""
    files = reader.tokens[token_id]
    if files.refused:
        raise MetadataError(files.refused)
    if files.image is None:
        raise MetadataError("missing image")
    if files.metadata is None:
        raise MetadataError("missing metadata")
    read_attributes(reader, files.metadata)


def scan_collection(source: CollectionSource, min_tokens: int = DEFAULT_MIN_TOKENS) -> CollectionScan:
    """Read every token's metadata (not its image) and apply the collection filters, on the tokens that passed."""
    scan = CollectionScan(source)
    try:
        with source.open() as reader:
            scan.tally.merge(reader.notes)
            for token_id in reader.token_ids():
                try:
                    _token_check(reader, token_id)
                except Exception as err:  # one token never stops the build: every failure is a counted skip
                    scan.tally.skip(token_problem(err), token_id)
                    log_skip(reader, token_id, err)
                    continue
                scan.usable.append(token_id)
            identical = len(scan.usable) >= min_tokens and _all_identical(reader, scan)
            read = scan.tally.read + len(scan.usable)
            if not scan.usable:
                scan.dropped = "no usable metadata"
            elif identical:
                scan.dropped = "all images identical"
            elif len(scan.usable) < min_tokens:
                scan.dropped = f"too few tokens ({len(scan.usable)} < {min_tokens})"
    except (ReleaseError, OSError) as err:
        logger.error("%s: collection skipped: %s", printable(source.path), err)
        scan.dropped = printable(f"unreadable ({err})" if not source.refused else source.refused)
        read = scan.tally.read + len(scan.usable)
    if scan.dropped:
        logger.warning("collection %r dropped: %s (%d tokens)", source.name, scan.dropped, read)
        scan.usable = []
        notes = scan.tally.notes
        scan.tally = Tally(examples={k: v for k, v in scan.tally.examples.items() if k in notes}, notes=notes)
        if read:
            scan.tally.skip(f"collection dropped: {scan.dropped.split(' (')[0]}", n=read)
    return scan


def log_skip(reader: CollectionReader, token_id: str, err: Exception) -> None:
    """One line naming the collection, the token and why it was skipped; a traceback for what we did not foresee."""
    known = isinstance(err, (MetadataError, ReleaseError)) or hasattr(err, "reason")
    logger.log(logging.INFO if known else logging.WARNING, "%s: token %s skipped: %s",
               printable(reader.source.path), printable(token_id), err, exc_info=not known)  # fmt: skip


def scan_release(raw_dir, min_tokens: int = DEFAULT_MIN_TOKENS, num_proc: int = 1) -> list[CollectionScan]:
    """Every collection of a release folder (`release.discover_collections`), scanned."""
    return scan_collections(discover_collections(raw_dir), min_tokens, num_proc)


def scan_collections(
    sources: list[CollectionSource], min_tokens: int = DEFAULT_MIN_TOKENS, num_proc: int = 1
) -> list[CollectionScan]:
    """Scan collections, in parallel with `num_proc` processes; results in the order of `sources`."""
    progress = tqdm(total=len(sources), desc="Scanning collections", unit="collection", disable=None)
    if num_proc > 1 and len(sources) > 1:
        with process_pool(min(num_proc, len(sources))) as pool:
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
