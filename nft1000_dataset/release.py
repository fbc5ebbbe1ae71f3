"""Reading the NFT1000 release layout in place, from collection folders or per-collection zips.

Layout of one collection (the zip holds the same, usually under a top folder ``<Name>/``)::

    <Name>/images/<Name>_<tokenId>.<ext>     media (standardised PNG in the release, any format raw)
    <Name>/metadata/<Name>_<tokenId>.json    ERC-721 metadata
    <Name>/captions/<Name>_<tokenId>.txt     template caption (optional)
    <Name>/prompts/<Name>_<tokenId>.txt      generation prompt (optional)
    <Name>/metadata_dashboard.json           overview (optional)

Zips are never extracted: members are read one by one, names that climb out of the archive are refused
and members whose declared or actual size is out of bounds are refused as decompression bombs.
"""

from __future__ import annotations

import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

PART_FIELDS = {"images": "image", "metadata": "metadata", "captions": "caption", "prompts": "prompt"}
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
RATIO_CHECK_ABOVE_BYTES = 8 * 1024 * 1024


class ReleaseError(ValueError):
    """The release (or one collection of it) is unusable; the message names the file."""


class MemberTooLarge(ReleaseError):
    """A zip member that would decompress to more than the limits allow."""


def normalize_name(name: str) -> str:
    """Collection names compare in Unicode NFC (partition files and file systems disagree otherwise)."""
    return unicodedata.normalize("NFC", name).strip()


def token_sort_key(token_id: str) -> tuple[int, int, str]:
    """Numeric ids (ERC-721 uint256, kept as strings) in numeric order, then any other ids."""
    if token_id.isdigit():
        return (0, int(token_id), "")
    return (1, 0, token_id)


def token_id_from_stem(stem: str) -> str:
    """``"Cool Cats_1234"`` -> ``"1234"``: the id is what follows the last underscore."""
    return stem.rsplit("_", 1)[-1]


@dataclass
class TokenFiles:
    """Where one token's files are inside its collection (member names or relative paths)."""

    image: str | None = None
    metadata: str | None = None
    caption: str | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class CollectionSource:
    """One collection of the release: a folder or a zip. Picklable; opened anew in each process."""

    name: str
    path: str

    @property
    def is_zip(self) -> bool:
        return self.path.endswith(".zip")

    def open(self) -> CollectionReader:
        return CollectionReader(self)


@dataclass
class CollectionReader:
    """Lists a collection's tokens and reads their files. Use as a context manager."""

    source: CollectionSource
    tokens: dict[str, TokenFiles] = field(default_factory=dict)
    dashboard: str | None = None
    _zip: zipfile.ZipFile | None = None

    def __enter__(self) -> CollectionReader:
        if self.source.is_zip:
            try:
                self._zip = zipfile.ZipFile(self.source.path)
            except (zipfile.BadZipFile, OSError) as err:
                raise ReleaseError(f"{self.source.path}: not a readable zip ({err})") from None
            names = [info.filename for info in self._zip.infolist() if not info.is_dir()]
        else:
            root = Path(self.source.path)
            names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        self._index(names)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._zip is not None:
            self._zip.close()

    def _index(self, names: list[str]) -> None:
        for name in names:
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or "\\" in name:
                raise ReleaseError(f"{self.source.path}: unsafe member name {name!r} (climbs out of the archive)")
            parts = path.parts
            if parts[-1] == "metadata_dashboard.json" and len(parts) <= 2:
                self.dashboard = name
                continue
            if len(parts) < 2 or len(parts) > 3 or parts[-2] not in PART_FIELDS or parts[-1].startswith("."):
                continue
            token_id = token_id_from_stem(path.stem)
            files = self.tokens.setdefault(token_id, TokenFiles())
            setattr(files, PART_FIELDS[parts[-2]], name)

    def token_ids(self) -> list[str]:
        """Every token id that has any file, in numeric order."""
        return sorted(self.tokens, key=token_sort_key)

    def member_path(self, name: str) -> str:
        return f"{self.source.path}!{name}" if self.source.is_zip else str(Path(self.source.path) / name)

    def read_bytes(self, name: str) -> bytes:
        if self._zip is None:
            return (Path(self.source.path) / name).read_bytes()
        info = self._zip.getinfo(name)
        bomb = info.file_size > MAX_MEMBER_BYTES or (
            info.file_size > RATIO_CHECK_ABOVE_BYTES
            and info.file_size > MAX_COMPRESSION_RATIO * max(1, info.compress_size)
        )
        if bomb:
            raise MemberTooLarge(
                f"{self.member_path(name)}: {info.file_size} bytes from {info.compress_size} compressed"
            )
        with self._zip.open(info) as handle:
            data = handle.read(MAX_MEMBER_BYTES + 1)
        if len(data) > MAX_MEMBER_BYTES:
            raise MemberTooLarge(f"{self.member_path(name)}: more than {MAX_MEMBER_BYTES} bytes")
        return data

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8-sig")


def discover_collections(raw_dir: str | Path) -> list[CollectionSource]:
    """The collections under `raw_dir`: sub-folders with release parts and ``*.zip`` files, by name."""
    root = Path(raw_dir)
    if not root.is_dir():
        raise ReleaseError(f"{root}: no such folder (expected a folder of collection folders or zips)")
    found: dict[str, CollectionSource] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".zip":
            name = normalize_name(entry.stem)
        elif entry.is_dir() and any((entry / part).is_dir() for part in PART_FIELDS):
            name = normalize_name(entry.name)
        else:
            continue
        if name in found:
            raise ReleaseError(f"{root}: collection {name!r} is there twice ({found[name].path} and {entry})")
        found[name] = CollectionSource(name=name, path=str(entry))
    return [found[name] for name in sorted(found)]
