"""Reading the NFT1000 release layout in place, from collection folders or per-collection zips.

Layout of one collection (the zip holds the same, usually under a top folder ``<Name>/``)::

    <Name>/images/<Name>_<tokenId>.<ext>     media (standardised PNG in the release, any format raw)
    <Name>/metadata/<Name>_<tokenId>.json    ERC-721 metadata
    <Name>/captions/<Name>_<tokenId>.txt     template caption (optional)
    <Name>/prompts/<Name>_<tokenId>.txt      generation prompt (optional)
    <Name>/metadata_dashboard.json           overview (optional)

The release is a sandbox: nothing outside the release folder (or the zip) is ever read. Zips are never
extracted; member names that climb out, members that are links, duplicate or encrypted members, and members
whose declared or actual size is out of bounds are refused. In folders, a symlink is followed only to a regular
file inside the collection's own folder, symlinked folders are not entered, and only regular files are opened.
Token ids are ERC-721 uint256s written in ASCII digits, normalised (``007`` is token ``7``). Only the release's
own file names are read, one file per token and part: see `FILE_EXTENSIONS`. Everything refused or left aside is
counted with its reason (`CollectionReader.notes`, and the token's ``refused`` reason).
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

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
MAX_TEXT_BYTES = 16 * 1024 * 1024  # metadata, captions and prompts
MAX_COMPRESSION_RATIO = 200
RATIO_CHECK_ABOVE_BYTES = 8 * 1024 * 1024
MAX_UINT256 = 2**256 - 1
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
    """Collection names compare in Unicode NFC (partition files and file systems disagree otherwise)."""
    return unicodedata.normalize("NFC", name).strip()


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
        if self.source.is_zip:
            try:
                self._zip = zipfile.ZipFile(self.source.path)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
                raise ReleaseError(f"{self.source.path}: not a readable zip ({err})") from None
            self._index(self._zip_members())
        else:
            self._index(self._folder_files())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._zip is not None:
            self._zip.close()

    def _zip_members(self) -> list[tuple[str, str | None]]:
        infos = [info for info in self._zip.infolist() if not info.is_dir()]
        seen: dict[str, int] = {}
        for info in infos:
            seen[info.filename] = seen.get(info.filename, 0) + 1
        members = []
        for info in infos:
            kind = (info.external_attr >> 16) & _ZIP_FILE_TYPE
            if seen[info.filename] > 1:
                refused = "duplicate zip member"
            elif kind == stat.S_IFLNK:
                refused = "zip member is a link"
            elif kind and kind != stat.S_IFREG:
                refused = "not a regular file"
            elif info.flag_bits & 0x1:
                refused = "encrypted zip member"
            else:
                refused = None
            members.append((info.filename, refused))
        return members

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
        bomb = info.file_size > limit or (
            info.file_size > RATIO_CHECK_ABOVE_BYTES
            and info.file_size > MAX_COMPRESSION_RATIO * max(1, info.compress_size)
        )
        if bomb:
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

    def read_text(self, name: str) -> tuple[str, str]:
        """The text of a metadata, caption or prompt file and the encoding it was read in (see `decode_text`)."""
        try:
            return decode_text(self.read_bytes(name, MAX_TEXT_BYTES))
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


def _collection_entry(root: Path, entry: Path) -> tuple[str, str | None] | None:
    """(name, reason refused or None) of a collection entry of the release folder, or None if it is no collection."""
    name = normalize_name(entry.stem if entry.suffix == ".zip" else entry.name)
    if entry.is_symlink():
        target = Path(os.path.realpath(entry))
        if not target.is_relative_to(Path(os.path.realpath(root))):
            return (name, "link to outside the release") if entry.suffix == ".zip" or entry.is_dir() else None
    if not _is_utf8(name):
        return name, "collection name not UTF-8"
    if entry.is_file() and entry.suffix == ".zip":
        return name, None
    if entry.is_dir() and any((entry / part).is_dir() for part in PART_FIELDS):
        return name, None
    return None


def discover_collections(raw_dir: str | Path) -> list[CollectionSource]:
    """The collections under `raw_dir`: sub-folders with release parts and ``*.zip`` files, by name. An entry that
    links outside `raw_dir` or has a name that is not UTF-8 comes back ``refused``, never opened."""
    root = Path(raw_dir)
    if not root.is_dir():
        raise ReleaseError(f"{root}: no such folder (expected a folder of collection folders or zips)")
    found: dict[str, CollectionSource] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        collection = _collection_entry(root, entry)
        if collection is None:
            continue
        name, refused = collection
        if name in found:
            raise ReleaseError(f"{root}: collection {name!r} is there twice ({found[name].path} and {entry})")
        found[name] = CollectionSource(name=name, path=str(entry), refused=refused)
    return [found[name] for name in sorted(found)]
