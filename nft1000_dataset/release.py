"""Reading the NFT1000 release layout in place, from collection folders or per-collection zips.

Layout of one collection (the zip holds the same, usually under a top folder ``<Name>/``)::

    <Name>/images/<Name>_<tokenId>.<ext>     media (standardised PNG in the release, any format raw)
    <Name>/metadata/<Name>_<tokenId>.json    ERC-721 metadata
    <Name>/captions/<Name>_<tokenId>.txt     template caption (optional)
    <Name>/prompts/<Name>_<tokenId>.txt      generation prompt (optional)
    <Name>/metadata_dashboard.json           overview (optional)

The release is a sandbox: nothing outside the release folder (or the zip) is ever read. Zips are never
extracted; member names that climb out, members that are links, duplicate or encrypted members, members whose
compressed data overlaps another's, and members whose declared or actual size is out of bounds are refused,
before anything is inflated; so is a zip whose members declare too much in all. Collection names are cleaned of
control runs and invisible formatting (a note counts each). In folders, a symlink is followed only to a regular
file inside the collection's own folder, symlinked folders are not entered, and only regular files are opened.
Token ids are ERC-721 uint256s written in ASCII digits, normalised (``007`` is token ``7``). Only the release's
own file names are read, one file per token and part: see `FILE_EXTENSIONS`. Everything refused or left aside is
counted with its reason (`CollectionReader.notes`, and the token's ``refused`` reason).
"""

from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from nft1000_io.text import clean_text, needs_cleaning, terminal_safe

from .report import Tally

PART_FIELDS = {"images": "image", "metadata": "metadata", "captions": "caption", "prompts": "prompt"}
# the file extensions each part reads, in order of preference when a token has several (the release's own PNG
# first, then still, animated, vector and video formats); any other name in a part folder is left aside
FILE_EXTENSIONS = {
    "images": (".png", ".webp", ".jpg", ".jpeg", ".gif", ".svg", ".mp4"),
    "metadata": (".json",),
    "captions": (".txt",),
    "prompts": (".txt",),
}
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_TEXT_BYTES = 16 * 1024 * 1024  # metadata (an on-chain image inline can take megabytes)
MAX_CAPTION_BYTES = 64 * 1024  # a release's own caption or prompt: a few hundred bytes in NFT1000
MAX_COMPRESSION_RATIO = 200
RATIO_CHECK_ABOVE_BYTES = 8 * 1024 * 1024
MAX_UINT256 = 2**256 - 1
NAME_CLEANED = "collection name cleaned of control or invisible characters"
SYNTHETIC_MARKER = "nft1000_synthetic.json"  # what `nft1000 synth` writes beside its collections: its settings
_ASCII_DIGITS = re.compile(r"[0-9]+")
_ZIP_FILE_TYPE = 0o170000
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # control characters but tab and line ends


class ReleaseError(ValueError):
    """The release (or one collection of it) is unusable; the message names the file."""


class UnreadableFile(ReleaseError):
    """One file of a token cannot be read; ``reason`` is the label counted in reports."""

    reason = "unreadable file"

    def __init__(self, message: str, reason: str | None = None):
        if reason is not None:
            self.reason = reason
        super().__init__(f"{self.reason}: {message}")


class MemberTooLarge(UnreadableFile):
    """A file that would decompress (or read) to more than the limits allow."""

    reason = "decompression bomb"


def normalize_name(name: str) -> str:
    """A collection name as the data carries it: in Unicode NFC (partition files and file systems disagree
    otherwise), cleaned of control runs and invisible formatting (`nft1000_io.text.clean_text`)."""
    return clean_text(unicodedata.normalize("NFC", name))


def canonical_token_id(text: str) -> str | None:
    """The token id as ERC-721's uint256 in plain decimal (``"007"`` -> ``"7"``), or None if `text` is not one
    (non-ASCII digits, signs, spaces, or more than 2**256 - 1)."""
    if not _ASCII_DIGITS.fullmatch(text) or len(text.lstrip("0")) > 78:
        return None
    value = int(text)
    return str(value) if value <= MAX_UINT256 else None


def token_sort_key(token_id: str) -> tuple[int, int, str]:
    """uint256 ids in numeric order, then any other spelling (refused ids, duplicates) by text."""
    canonical = canonical_token_id(token_id)
    if canonical == token_id:
        return (0, int(token_id), "")
    return (1, 0, token_id)


def token_id_from_stem(stem: str) -> str:
    """``"Cool Cats_1234"`` -> ``"1234"``: the id is what follows the last underscore."""
    return stem.rsplit("_", 1)[-1]


@dataclass
class TokenFiles:
    """Where one token's files are inside its collection (member names or relative paths), or why the token is
    refused whatever its files (a link out of the release, an id that is no uint256, ...)."""

    image: str | None = None
    metadata: str | None = None
    caption: str | None = None
    prompt: str | None = None
    refused: str | None = None

    def refuse(self, reason: str) -> None:
        self.refused = self.refused or reason


@dataclass(frozen=True)
class CollectionSource:
    """One collection of the release: a folder or a zip, or an entry refused before it is opened (``refused``).
    Picklable; opened anew in each process."""

    name: str
    path: str
    refused: str | None = None
    spelled: str | None = None  # the name as the release spells it, where cleaning changed it

    @property
    def is_zip(self) -> bool:
        return self.path.endswith(".zip")

    def open(self) -> CollectionReader:
        return CollectionReader(self)


def _parts(name: str) -> tuple[tuple[str, ...], bool]:
    """The parts of a member name (backslashes, which some Windows zip tools write, as separators; empty and
    ``.`` parts dropped) and whether it climbs out: absolute, with a ``..`` part or a NUL. Plain string work: the
    scan splits every file name of the release."""
    normal = name.replace("\\", "/")
    parts = tuple(part for part in normal.split("/") if part not in ("", "."))
    return parts, normal.startswith("/") or ".." in parts or "\0" in name


def _member_reason(info: zipfile.ZipInfo, copies: int, overlapping: bool) -> str | None:
    """Why a zip member is refused before it is read, or None."""
    kind = (info.external_attr >> 16) & _ZIP_FILE_TYPE
    if overlapping:
        return "overlapping zip member"
    if copies > 1:
        return "duplicate zip member"
    if kind == stat.S_IFLNK:
        return "zip member is a link"
    if kind and kind != stat.S_IFREG:
        return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted zip member"
    if _declares_a_bomb(info, MAX_MEMBER_BYTES):
        return MemberTooLarge.reason
    return None


def _declares_a_bomb(info: zipfile.ZipInfo, limit: int) -> bool:
    """True if the member declares more than `limit` bytes, or a large size at a ratio no image reaches."""
    return info.file_size > limit or (
        info.file_size > RATIO_CHECK_ABOVE_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(1, info.compress_size)
    )


def _check_declared_total(path: str, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose members (those not refused already) declare more than `MAX_COMPRESSION_RATIO` times its
    size in all, plus `RATIO_CHECK_ABOVE_BYTES`: each member may be under the bound and the whole still a bomb."""
    declared, size = sum(info.file_size for info in infos), os.path.getsize(path)
    if declared > MAX_COMPRESSION_RATIO * size + RATIO_CHECK_ABOVE_BYTES:
        raise ReleaseError(
            f"{path}: decompression bomb: its members declare {declared} bytes from a {size}-byte zip "
            f"(at most {MAX_COMPRESSION_RATIO} times)"
        )


def _overlapping_members(infos: list[zipfile.ZipInfo], directory_start: int) -> set[int]:
    """The ids of members whose compressed data reaches into another member's (several names over one DEFLATE
    stream, a non-recursive zip bomb) or into the central directory. Each member's data starts after its local
    header (30 bytes and its name) and is `compress_size` long: an end past the next member's header is an
    overlap, whatever the local header's extra field adds."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    starts = [info.header_offset for info in ordered[1:]] + [directory_start]
    found: set[int] = set()
    for index, (info, next_start) in enumerate(zip(ordered, starts, strict=True)):
        name_bytes = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace"))
        end = info.header_offset + 30 + name_bytes + info.compress_size
        if end > next_start:
            found.add(id(info))
            if index + 1 < len(ordered) and end > ordered[index + 1].header_offset:
                found.add(id(ordered[index + 1]))
    return found


def _file_type_reason(mode: int) -> str | None:
    return None if stat.S_ISREG(mode) else "not a regular file"


@dataclass
class CollectionReader:
    """Lists a collection's tokens and reads their files. Use as a context manager.

    ``tokens`` maps each token id (canonical, or as spelled where refused) to its files; ``notes`` counts the
    files left aside, by reason (a stray name, a second file for the same token and part, a folder link)."""

    source: CollectionSource
    tokens: dict[str, TokenFiles] = field(default_factory=dict)
    dashboard: str | None = None
    notes: Tally = field(default_factory=Tally)
    _zip: zipfile.ZipFile | None = None
    _real_paths: dict[str, str] = field(default_factory=dict)  # folder form: name -> the regular file it reads

    def __enter__(self) -> CollectionReader:
        if self.source.refused:
            raise ReleaseError(f"{self.source.path}: {self.source.refused}")
        if self.source.spelled is not None:
            self.notes.note(NAME_CLEANED, self.source.spelled)
        if self.source.is_zip:
            try:
                self._zip = zipfile.ZipFile(self.source.path)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
                raise ReleaseError(f"{self.source.path}: not a readable zip ({err})") from None
            try:
                self._index(self._zip_members())
            except ReleaseError:
                self._zip.close()
                raise
        else:
            self._index(self._folder_files())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._zip is not None:
            self._zip.close()

    def _zip_members(self) -> list[tuple[str, str | None]]:
        """Every member with the reason it is refused, or None, from the central directory alone: nothing is
        inflated here. Raises `ReleaseError` for a zip whose other members declare too much in all."""
        infos = [info for info in self._zip.infolist() if not info.is_dir()]
        overlapping = _overlapping_members(self._zip.infolist(), self._zip.start_dir)
        seen: dict[str, int] = {}
        for info in infos:
            seen[info.filename] = seen.get(info.filename, 0) + 1
        members = [(info, _member_reason(info, seen[info.filename], id(info) in overlapping)) for info in infos]
        _check_declared_total(self.source.path, [info for info, refused in members if refused is None])
        return [(info.filename, refused) for info, refused in members]

    def _folder_files(self) -> list[tuple[str, str | None]]:
        root = os.path.realpath(self.source.path)
        files = []
        for directory, folders, names in os.walk(root, followlinks=False):
            prefix = os.path.relpath(directory, root).replace(os.sep, "/") + "/"
            prefix = "" if prefix == "./" else prefix
            for folder in folders:
                if os.path.islink(os.path.join(directory, folder)):
                    self.notes.note("linked folder not entered", prefix + folder)
            for name in names:
                files.append((prefix + name, self._folder_file(root, os.path.join(directory, name), prefix + name)))
        return sorted(files)

    def _folder_file(self, root: str, full: str, relative: str) -> str | None:
        """Why the file is refused, or None after noting the regular file it reads."""
        try:
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                target = os.path.realpath(full)
                if os.path.commonpath([root, target]) != root:
                    return "link to outside the release"
                mode = os.stat(target).st_mode
                full = target
        except (OSError, ValueError):
            return "broken link"
        reason = _file_type_reason(mode)
        if reason is None:
            self._real_paths[relative] = full
        return reason

    def _index(self, members: list[tuple[str, str | None]]) -> None:
        spellings: dict[str, list[str]] = {}
        for name, refused in members:
            self._index_one(name, refused, spellings)
        for canonical, spelled in spellings.items():
            keep = canonical if canonical in spelled else min(spelled)
            for other in sorted(set(spelled) - {keep}):
                self.tokens[other].refuse("duplicate token id")
            if keep != canonical:
                self.tokens[canonical] = self.tokens.pop(keep)

    def _index_one(self, name: str, refused: str | None, spellings: dict[str, list[str]]) -> None:
        parts, unsafe = _parts(name)
        if unsafe:
            refused, parts = "unsafe member name (climbs out of the archive)", parts[-2:]
        if not parts:
            self.notes.note(refused or "not a release file", name)
            return
        if parts[-1] == "metadata_dashboard.json" and len(parts) <= 2:
            if refused:
                self.notes.note(f"dashboard refused: {refused}", name)
            else:
                self.dashboard = name
            return
        part = parts[-2] if len(parts) >= 2 else None
        stem, suffix = os.path.splitext(parts[-1])
        known = part in PART_FIELDS and suffix.lower() in FILE_EXTENSIONS[part]
        if not known or len(parts) > 3 or parts[-1].startswith("."):
            self.notes.note(refused or "not a release file", name)
            return
        spelled = token_id_from_stem(stem)
        files = self.tokens.setdefault(spelled, TokenFiles())
        canonical = canonical_token_id(spelled)
        if canonical is None:
            files.refuse("token id not a uint256")
        elif spelled not in spellings.setdefault(canonical, []):
            spellings[canonical].append(spelled)
        if refused:
            files.refuse(refused)
            return
        attribute = PART_FIELDS[part]
        current = getattr(files, attribute)
        if current is None or _preference(part, name) < _preference(part, current):
            if current is not None:
                self.notes.note(f"second {part} file of a token", current)
            setattr(files, attribute, name)
        else:
            self.notes.note(f"second {part} file of a token", name)

    def token_ids(self) -> list[str]:
        """Every token id that has any file, in numeric order (refused spellings last)."""
        return sorted(self.tokens, key=token_sort_key)

    def member_path(self, name: str) -> str:
        return f"{self.source.path}!{name}" if self.source.is_zip else str(Path(self.source.path) / name)

    def read_bytes(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        """The file's bytes; raises `UnreadableFile` (or `MemberTooLarge`) naming the file."""
        if self._zip is None:
            return self._read_folder_file(name, limit)
        info = self._zip.getinfo(name)
        if _declares_a_bomb(info, limit):
            raise MemberTooLarge(
                f"{self.member_path(name)}: {info.file_size} bytes from {info.compress_size} compressed"
            )
        try:
            with self._zip.open(info) as handle:
                data = handle.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as err:
            raise UnreadableFile(f"{self.member_path(name)}: {err}") from None
        if len(data) > limit:
            raise MemberTooLarge(f"{self.member_path(name)}: more than {limit} bytes")
        return data

    def _read_folder_file(self, name: str, limit: int) -> bytes:
        path = self._real_paths[name]
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except OSError as err:
            raise UnreadableFile(f"{self.member_path(name)}: {err.strerror or err}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            reason = _file_type_reason(info.st_mode)
            if reason:
                raise UnreadableFile(f"{self.member_path(name)}: {reason}", reason)
            if info.st_size > limit:
                raise MemberTooLarge(f"{self.member_path(name)}: {info.st_size} bytes", "file too large")
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise MemberTooLarge(f"{self.member_path(name)}: more than {limit} bytes", "file too large")
        return data

    def read_text(self, name: str, limit: int = MAX_TEXT_BYTES) -> tuple[str, str]:
        """The text of a metadata, caption or prompt file and the encoding it was read in (see `decode_text`)."""
        try:
            return decode_text(self.read_bytes(name, limit))
        except NotText as err:
            raise UnreadableFile(f"{self.member_path(name)}: {err}", "not a text file") from None


class NotText(ValueError):
    """Bytes that no text encoding reads as text (NUL bytes, or mostly control characters)."""


def decode_text(data: bytes) -> tuple[str, str]:
    """Text in UTF-8 (with or without a BOM), UTF-16 or UTF-32 with a BOM, else Windows-1252 or Latin-1 (every
    byte is a character there); returns (text, encoding). Raises `NotText` for binary data."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        candidates = ("utf-32",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8-sig", "cp1252", "latin-1")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = len(_CONTROLS.findall(text))
        if "\x00" in text or controls > max(2, len(text) // 20):
            raise NotText("binary data, not text")
        return text, encoding.replace("-sig", "")
    raise NotText(f"not text in {', '.join(candidates)}")


def _preference(part: str, name: str) -> int:
    return FILE_EXTENSIONS[part].index(os.path.splitext(name)[1].lower())


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a file name's undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def _collection_entry(root: Path, entry: Path) -> CollectionSource | None:
    """The collection an entry of the release folder holds (refused, with the reason, where it cannot be opened),
    or None if it is no collection."""
    spelled = entry.stem if entry.suffix == ".zip" else entry.name
    name = normalize_name(spelled)
    source = partial(CollectionSource, name=name, path=str(entry), spelled=spelled if needs_cleaning(spelled) else None)
    if entry.is_symlink():
        target = Path(os.path.realpath(entry))
        if not target.is_relative_to(Path(os.path.realpath(root))):
            linked = entry.suffix == ".zip" or entry.is_dir()
            return source(refused="link to outside the release") if linked else None
    if not _is_utf8(name):
        return source(refused="collection name not UTF-8")
    if not name:
        return source(name=terminal_safe(spelled), refused="collection name empty once cleaned")
    if entry.is_file() and entry.suffix == ".zip":
        return source()
    if entry.is_dir() and any((entry / part).is_dir() for part in PART_FIELDS):
        return source()
    return None


def synthetic_origin(raw_dir: str | Path) -> dict | None:
    """The generator's settings where `nft1000 synth` wrote the release (`SYNTHETIC_MARKER`), else None. Read as
    any release file is: a regular file inside the release, small, JSON, scalar values, text cleaned."""
    path = Path(raw_dir) / SYNTHETIC_MARKER
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 4096:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    scalars = (bool, int, float, str)
    return {clean_text(str(k))[:40]: clean_text(v)[:80] if isinstance(v, str) else v
            for k, v in data.items() if isinstance(v, scalars)} or None  # fmt: skip


def discover_collections(raw_dir: str | Path) -> list[CollectionSource]:
    """The collections under `raw_dir`: sub-folders with release parts and ``*.zip`` files, by name (cleaned:
    `normalize_name`). An entry that links outside `raw_dir`, or has a name that is not UTF-8 or nothing once
    cleaned, comes back ``refused``, never opened."""
    root = Path(raw_dir)
    if not root.is_dir():
        raise ReleaseError(f"{root}: no such folder (expected a folder of collection folders or zips)")
    found: dict[str, CollectionSource] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        source = _collection_entry(root, entry)
        if source is None:
            continue
        if source.name in found:
            raise ReleaseError(
                f"{root}: collection {source.name!r} is there twice ({found[source.name].path} and {entry})"
            )
        found[source.name] = source
    return [found[name] for name in sorted(found)]
