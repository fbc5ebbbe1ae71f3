"""A hostile or broken release for tests: what real releases and attackers put in front of `nft1000 build`.

`write_hostile_release(root)` writes ``root/release/`` with two collections of good tokens, a folder (``Hostile``)
and a zip (``Hostile Zip``), each with one planted fault per token id from `FIRST_FAULT_ID` on; two entries
that link outside the release; a zip whose images share one DEFLATE stream (``Overlap Zip``) and one whose members
declare far more than it holds (``Declared Zip``); and a folder and a zip whose names carry terminal escapes and
bidi controls (`CONTROL_NAMES`), as do their tokens' trait values and captions. ``root/outside/`` holds files
that must never reach the export: an image of `SECRET_COLOUR`, texts and metadata holding `SECRET_TEXT`, and a
whole collection of them. Each `Fault` says what the build must do: skip the token with a reason, or keep it and
pass a check on its exported row. These are not the faults of ``nft1000 synth --faults`` (formats the build
converts, files the paper filters). The bomb writers (`overlapping_chain`, `write_raw_zip`, `write_overlap_zip`,
`write_declared_zip`) also serve the cost measurements at full size.
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nft1000_dataset.attributes import CLEANED, MAX_ATTRIBUTES, OVER_MAX_ATTRIBUTES
from nft1000_dataset.captions import CAPTION_BOUND, MAX_CAPTION_CHARS

SECRET_TEXT = "OUTSIDE-SECRET-5f3a9c"
SECRET_COLOUR = (255, 0, 255)
GOOD_TOKENS = 12
FIRST_FAULT_ID = 100
FOLDER, ZIP = "Hostile", "Hostile Zip"
KEPT = "kept"


def colour(token_id: int) -> tuple[int, int, int]:
    """A good token's own colour (never the secret's)."""
    return (20 + token_id * 7 % 200, 40 + token_id * 13 % 180, 60 + token_id * 3 % 150)


def png(rgb=(10, 20, 30), size=(32, 32), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def metadata(token_id: str, **traits) -> dict:
    traits = traits or {"Background": "Teal", "Eyes": "Laser"}
    return {"name": f"#{token_id}", "attributes": [{"trait_type": k, "value": v} for k, v in traits.items()]}


def _json(value) -> bytes:
    return json.dumps(value).encode()


class Writer:
    """Where a fault plants its files: a collection folder, or the members of a zip."""

    def __init__(self, collection: str, outside: Path):
        self.collection = collection
        self.outside = outside

    def stem(self, token_id: str) -> str:
        return f"{self.collection}_{token_id}"

    def token(self, token_id: str, image: bytes | None = None, meta: dict | None = None, caption: str | None = None):
        """A whole good token: image, metadata and caption."""
        stem = self.stem(token_id)
        self.put(f"images/{stem}.png", image if image is not None else png(colour(int(token_id) % 1000)))
        self.put(f"metadata/{stem}.json", _json(meta or metadata(token_id)))
        self.put(f"captions/{stem}.txt", (caption or f"A {self.collection} token").encode())


class FolderWriter(Writer):
    def __init__(self, folder: Path, outside: Path):
        super().__init__(folder.name, outside)
        self.folder = folder

    def _path(self, relative: str) -> Path:
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def put(self, relative: str, data: bytes) -> None:
        self._path(relative).write_bytes(data)

    def link(self, relative: str, target: Path | str) -> None:
        self._path(relative).symlink_to(target)

    def fifo(self, relative: str) -> None:
        os.mkfifo(self._path(relative))


class ZipWriter(Writer):
    """Members of a zip, written at the end; `corrupt` members get one stored byte flipped, `methods` and `flags`
    members a compression method or flag bits in the central directory that zipfile would not write."""

    def __init__(self, collection: str, outside: Path):
        super().__init__(collection, outside)
        self.entries: list[tuple[zipfile.ZipInfo, bytes]] = []
        self.corrupt: set[str] = set()
        self.methods: dict[str, int] = {}
        self.flags: dict[str, int] = {}

    def put(self, relative: str, data: bytes, name: str | None = None, **attributes) -> None:
        info = zipfile.ZipInfo(name or f"{self.collection}/{relative}", date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        for key, value in attributes.items():
            setattr(info, key, value)
        self.entries.append((info, data))

    def write(self, path: Path) -> None:
        with zipfile.ZipFile(path, "w") as archive, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the duplicate name is planted on purpose
            for info, data in self.entries:
                archive.writestr(info, data)
        raw = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename in self.corrupt:
                    name_and_extra = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
                    raw[info.header_offset + 30 + sum(name_and_extra)] ^= 0xFF
        offset = struct.unpack("<I", raw[-6:-2])[0]  # the central directory (no archive comment written)
        while raw[offset : offset + 4] == b"PK\x01\x02":
            name_length, extra_length, comment_length = struct.unpack("<HHH", raw[offset + 28 : offset + 34])
            name = raw[offset + 46 : offset + 46 + name_length].decode("utf-8")
            if name in self.flags:
                raw[offset + 8 : offset + 10] = struct.pack("<H", self.flags[name])
            if name in self.methods:
                raw[offset + 10 : offset + 12] = struct.pack("<H", self.methods[name])
            offset += 46 + name_length + extra_length + comment_length
        path.write_bytes(bytes(raw))


@dataclass(frozen=True)
class Fault:
    """One planted fault: its kind, the form it needs, what the build must do (`KEPT` or the skip reason), other
    skips it causes, a note it must leave, and for a kept token a check on the exported row."""

    kind: str
    form: str
    expect: str
    plant: Callable
    check: Callable[[dict], bool] | None = None
    also_skipped: tuple[str, ...] = ()
    noted: str | None = None


FAULTS: list[Fault] = []


def fault(kind: str, form: str, expect: str, check=None, also_skipped=(), noted=None):
    def register(plant):
        FAULTS.append(Fault(kind, form, expect, plant, check, tuple(also_skipped), noted))
        return plant

    return register


def _pixel(row: dict, x: float, y: float) -> tuple[int, ...]:
    image = row["image"]
    return image.getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))


def _near(a, b, tolerance=12) -> bool:
    return all(abs(int(p) - int(q)) <= tolerance for p, q in zip(a, b, strict=True))


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def _svg(body: str, width: str = "32", height: str = "32", prolog: str = "") -> bytes:
    return (
        f'{prolog}<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}">{body}</svg>'
    ).encode()


@dataclass(frozen=True)
class RawMember:
    """A zip member written byte by byte: its name, method, CRC, sizes and the bytes stored for it."""

    name: str
    method: int
    crc: int
    file_size: int
    data: bytes


def _local_header(member: RawMember, compress_size: int) -> bytes:
    name = member.name.encode()
    fields = (0x04034B50, 20, 0x800, member.method, 0, 0x21, member.crc, compress_size, member.file_size, len(name), 0)
    return struct.pack("<IHHHHHIIIHH", *fields) + name


def stored(name: str, data: bytes) -> RawMember:
    return RawMember(name, zipfile.ZIP_STORED, zlib.crc32(data), len(data), data)


def overlapping_chain(names: list[str], kernel: bytes) -> list[tuple[RawMember, int]]:
    """Members that share one DEFLATE stream, a non-recursive zip bomb: each member's data quotes the next
    member's local header in a stored block and runs on into the next member's data, down to `kernel` deflated
    once, so that every member inflates to at least `kernel` while the file holds it once. Valid zip members
    (right CRCs); (member, compressed size) in file order, written with `write_raw_zip(..., overlap=True)`."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(kernel) + compressor.flush()
    chain: list[tuple[RawMember, int]] = []
    quoted: list[bytes] = []  # the local headers of the members after this one: what it inflates to before kernel
    for name in reversed(names):
        crc = zlib.crc32(kernel, zlib.crc32(b"".join(quoted)))
        member = RawMember(name, zipfile.ZIP_DEFLATED, crc, len(kernel) + sum(map(len, quoted)), data)
        header = _local_header(member, len(data))
        chain.append((member, len(data)))
        data = b"\x00" + struct.pack("<HH", len(header), len(header) ^ 0xFFFF) + header + data
        quoted.insert(0, header)
    return chain[::-1]


def write_raw_zip(path: Path, members: list[RawMember], chain: list[tuple[RawMember, int]] = ()) -> None:
    """A zip of `members` (each its own data) followed by an `overlapping_chain` (whose first member's data holds
    every later member), with one central directory for all."""
    out, directory = bytearray(), bytearray()

    def entry(member: RawMember, compress_size: int, offset: int) -> bytes:
        name = member.name.encode()
        fields = (0x02014B50, 0x031E, 20, 0x800, member.method, 0, 0x21, member.crc, compress_size, member.file_size,
                  len(name), 0, 0, 0, 0, (stat.S_IFREG | 0o644) << 16, offset)  # fmt: skip
        return struct.pack("<IHHHHHHIIIHHHHHII", *fields) + name

    for member in members:
        directory += entry(member, len(member.data), len(out))
        out += _local_header(member, len(member.data)) + member.data
    if chain:
        offset = len(out)
        first, first_size = chain[0]
        out += _local_header(first, first_size) + first.data
        for member, compress_size in chain:
            directory += entry(member, compress_size, offset)
            offset += 30 + len(member.name.encode()) + 5  # the next header sits after this one and a block header
    count = len(members) + len(chain)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), len(out), 0)
    path.write_bytes(bytes(out + directory + end))


# --- links and special files (folder form) -----------------------------------------------------------------

for _part, _ext in (("images", "png"), ("metadata", "json"), ("captions", "txt"), ("prompts", "txt")):

    def _plant_link(w, t, part=_part, ext=_ext):
        w.token(t)
        target = {"png": "secret.png", "json": "secret.json", "txt": "secret.txt"}[ext]
        path = f"{part}/{w.stem(t)}.{ext}"
        (w.folder / path).unlink(missing_ok=True)
        w.link(path, w.outside / target)

    fault(f"{_part} file links outside the release", FOLDER, "link to outside the release")(_plant_link)


@fault("image links outside through a link inside", FOLDER, "link to outside the release")
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").unlink()
    w.link(f"images/hop_{t}.lnk", w.outside / "secret.png")
    w.link(f"images/{w.stem(t)}.png", f"hop_{t}.lnk")


@fault("image is a dangling link", FOLDER, "broken link")
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").unlink()
    w.link(f"images/{w.stem(t)}.png", "nowhere.png")


@fault("image links to a device", FOLDER, "link to outside the release")
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").unlink()
    w.link(f"images/{w.stem(t)}.png", "/dev/zero")


@fault("image is a named pipe", FOLDER, "not a regular file")
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").unlink()
    w.fifo(f"images/{w.stem(t)}.png")


@fault("metadata is a named pipe", FOLDER, "not a regular file")
def _(w, t):
    w.token(t)
    (w.folder / f"metadata/{w.stem(t)}.json").unlink()
    w.fifo(f"metadata/{w.stem(t)}.json")


@fault(
    "image links to another token's image inside the collection",
    FOLDER,
    KEPT,
    check=lambda row: _near(_pixel(row, 0.5, 0.5), colour(1)),
)
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").unlink()
    w.link(f"images/{w.stem(t)}.png", f"{w.stem('1')}.png")


@fault("linked folder into the outside", FOLDER, KEPT, noted="linked folder not entered")
def _(w, t):
    w.token(t)
    w.link("images/more", w.outside)


# --- metadata and texts -----------------------------------------------------------------------------------


def _meta_fault(kind, expect, make: Callable[[str], bytes], check=None, noted=None, form=FOLDER):
    def plant(w, t):
        w.token(t)
        w.put(f"metadata/{w.stem(t)}.json", make(t))

    fault(kind, form, expect, check, noted=noted)(plant)


_meta_fault(
    "integer of 5,000 digits in metadata",
    "malformed metadata JSON",
    lambda t: b'{"attributes": [{"trait_type": "Level", "value": ' + b"9" * 5000 + b"}]}",
)
_meta_fault("metadata nested 100,000 deep", "malformed metadata JSON", lambda t: b"[" * 100_000 + b"]" * 100_000)
_meta_fault(
    "trait value nested 100 lists deep",
    KEPT,
    lambda t: b'{"attributes": [{"trait_type": "X", "value": ' + b"[" * 100 + b"1" + b"]" * 100 + b"}]}",
    check=lambda row: row["attributes"] == [{"trait_type": "X", "value": "1", "display_type": None}],
)
_meta_fault("metadata is a JSON list", "malformed metadata", lambda t: b'[{"trait_type": "Eyes", "value": "Blue"}]')
_meta_fault("metadata of 17 MiB", "file too large", lambda t: b" " * (17 * 2**20) + _json(metadata(t)))
_meta_fault("metadata is a PNG", "not a text file", lambda t: png())
_meta_fault(
    "metadata in UTF-16",
    KEPT,
    lambda t: json.dumps(metadata(t, Hat="Béret")).encode("utf-16"),
    check=lambda row: {"trait_type": "Hat", "value": "Béret", "display_type": None} in row["attributes"],
    noted="metadata read as utf-16",
)
_meta_fault(
    "metadata in Windows-1252",
    KEPT,
    lambda t: json.dumps(metadata(t, Hat="Béret"), ensure_ascii=False).encode("cp1252"),
    check=lambda row: {"trait_type": "Hat", "value": "Béret", "display_type": None} in row["attributes"],
    noted="metadata read as cp1252",
)
_meta_fault(
    "null, NaN and Infinity trait values",
    KEPT,
    lambda t: (
        b'{"attributes": [{"trait_type": "Eyes", "value": "Blue"}, {"trait_type": "Hat", "value": null},'
        b' {"trait_type": "Mouth", "value": NaN}, {"trait_type": "Ears", "value": Infinity}]}'
    ),
    check=lambda row: [a["trait_type"] for a in row["attributes"]] == ["Eyes"],
    noted="attribute value dropped: not a finite number",
)
_meta_fault(
    "control characters in a trait value",
    KEPT,
    lambda t: _json(metadata(t, Eyes="Laser\n\x07\tRed")),
    check=lambda row: (
        {"trait_type": "Eyes", "value": "Laser Red", "display_type": None} in row["attributes"]
        and "\n" not in row["caption"]
    ),
)
_meta_fault(
    "trait value of 10,000 characters",
    KEPT,
    lambda t: _json(metadata(t, Eyes="Blue", Cape="x" * 10_000)),
    check=lambda row: "Cape" not in row["caption"],
    noted="attribute value dropped: too long",
)
_meta_fault(
    "metadata with a UTF-8 BOM",
    KEPT,
    lambda t: b"\xef\xbb\xbf" + _json(metadata(t)),
    check=lambda row: len(row["attributes"]) == 2,
)


_meta_fault(
    "metadata with 50,000 attributes",
    KEPT,
    lambda t: _json({"attributes": [{"trait_type": f"T{i}", "value": f"v{i}"} for i in range(50_000)]}),
    check=lambda row: len(row["attributes"]) == MAX_ATTRIBUTES and len(row["caption"]) <= MAX_CAPTION_CHARS,
    noted=OVER_MAX_ATTRIBUTES,
)
_meta_fault(
    "100 attributes of 500 characters each",
    KEPT,
    lambda t: _json(metadata(t, **{f"Trait {i}": f"{i}" + "y" * 499 for i in range(100)})),
    check=lambda row: 0 < len(row["attributes"]) < 100 and max(map(len, (row["caption"], row["prompt"]))) <= 2048,
    noted=CAPTION_BOUND,
)
_meta_fault(
    "bidi override, zero-width space and ESC in a trait value",
    KEPT,
    lambda t: _json(metadata(t, Eyes="\u202eLaser\u200b \x1b[2JRed\u2066")),
    check=lambda row: {"trait_type": "Eyes", "value": "Laser [2JRed", "display_type": None} in row["attributes"],
    noted=CLEANED,
)


def _caption_fault(kind, content: bytes, check, noted):
    """A token whose release caption is `content`; kept, its row passing `check`, `noted` counted."""

    def plant(w, t):
        w.token(t)
        w.put(f"captions/{w.stem(t)}.txt", content)

    fault(kind, FOLDER, KEPT, check, noted=noted)(plant)


_caption_fault(
    "caption of 60 KiB",
    b"words " * (60 * 2**10 // 6),
    lambda row: len(row["release_caption"]) == MAX_CAPTION_CHARS,
    f"release caption cut to {MAX_CAPTION_CHARS} characters",
)
_caption_fault(
    "caption of 1 MiB",
    b"words " * (2**20 // 6),
    lambda row: row["release_caption"] is None,
    "release caption left out: file too large",
)
_caption_fault(
    "terminal escapes in a caption",
    b"\x1b]0;pwned\x07\x1b[2J a caption a person wrote, with its own words.\r\n",
    lambda row: row["release_caption"] == "]0;pwned [2J a caption a person wrote, with its own words.",
    "release caption cleaned of control or invisible characters",
)
_caption_fault(
    "caption in Latin-1",
    "Café crème".encode("latin-1"),
    lambda row: row["release_caption"] == "Café crème",
    "release caption read as cp1252",
)
_caption_fault(
    "caption is binary",
    b"\x00\x01\x02binary\x00" * 10,
    lambda row: row["release_caption"] is None,
    "release caption left out: not a text file",
)


# --- names and ids ----------------------------------------------------------------------------------------


def _named(kind, expect, spelled: Callable[[str], str], check=None, also_skipped=(), noted=None, form=FOLDER):
    def plant(w, t):
        stem = f"{w.collection}_{spelled(t)}"
        w.put(f"images/{stem}.png", png(colour(int(t))))
        w.put(f"metadata/{stem}.json", _json(metadata(t)))

    fault(kind, form, expect, check, also_skipped, noted)(plant)


_named("token id in Arabic-Indic digits", "token id not a uint256", lambda t: "١٢٣" + t)
_named("token id in superscript digits", "token id not a uint256", lambda t: "²" + t)
_named("token id over 2**256 - 1", "token id not a uint256", lambda t: str(2**256 + int(t)))
_named("negative token id", "token id not a uint256", lambda t: "-" + t)
_named("token id with bytes that are not UTF-8", "token id not a uint256", lambda t: os.fsdecode(b"\xff" + t.encode()))
_named(
    "token id with leading zeros",
    KEPT,
    lambda t: "000" + t,
    check=lambda row: _near(_pixel(row, 0.5, 0.5), colour(int(row["token_id"]))),
)


@fault(
    "file name prefix with bytes that are not UTF-8",
    FOLDER,
    KEPT,
    check=lambda row: _near(_pixel(row, 0.5, 0.5), colour(int(row["token_id"]))),
)
def _(w, t):
    stem = os.fsdecode(b"Hostile\xff_") + t
    w.put(f"images/{stem}.png", png(colour(int(t))))
    w.put(f"metadata/{stem}.json", _json(metadata(t)))


@fault(
    "same uint256 twice (7 and 007)",
    FOLDER,
    KEPT,
    also_skipped=("duplicate token id",),
    check=lambda row: _near(_pixel(row, 0.5, 0.5), colour(int(row["token_id"]))),
)
def _(w, t):
    w.token(t)
    w.put(f"images/{w.stem('0' + t)}.png", png((0, 255, 0)))
    w.put(f"metadata/{w.stem('0' + t)}.json", _json(metadata(t, Eyes="Duplicate")))


@fault(
    "stale editor backup beside the metadata",
    FOLDER,
    KEPT,
    noted="not a release file",
    check=lambda row: "Stale" not in row["caption"],
)
def _(w, t):
    w.token(t)
    w.put(f"metadata/{w.stem(t)}.json~", _json(metadata(t, Eyes="Stale")))
    w.put(f"metadata/{w.stem(t)}.json.bak", _json(metadata(t, Eyes="Stale")))


@fault("only a stale backup of the metadata", FOLDER, "missing metadata", noted="not a release file")
def _(w, t):
    w.token(t)
    (w.folder / f"metadata/{w.stem(t)}.json").rename(w.folder / f"metadata/{w.stem(t)}.json~")


@fault(
    "image in two formats",
    FOLDER,
    KEPT,
    noted="second images file of a token",
    check=lambda row: _near(_pixel(row, 0.5, 0.5), colour(int(row["token_id"]))),
)
def _(w, t):
    w.token(t)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 255, 0)).save(buffer, format="JPEG")
    w.put(f"images/{w.stem(t)}.jpg", buffer.getvalue())


@fault("image with an upper-case extension", FOLDER, KEPT, check=lambda row: row["image"].width == 512)
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").rename(w.folder / f"images/{w.stem(t)}.PNG")


@fault("image only in an unsupported format (.bmp)", FOLDER, "missing image", noted="not a release file")
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").rename(w.folder / f"images/{w.stem(t)}.bmp")


@fault("AppleDouble and Finder files beside a token", FOLDER, KEPT, noted="not a release file")
def _(w, t):
    w.token(t)
    w.put(f"images/._{w.stem(t)}.png", b"\x00\x05\x16\x07" + b"\0" * 60)
    w.put("images/.DS_Store", b"\0\0\0\1Bud1")
    w.put(f"__MACOSX/images/._{w.stem(t)}.png", b"\x00\x05\x16\x07")


@fault("image in a nested folder", FOLDER, "missing image", noted="not a release file")
def _(w, t):
    w.token(t)
    (w.folder / f"images/{w.stem(t)}.png").unlink()
    w.put(f"images/old/{w.stem(t)}.png", png(colour(int(t))))


# --- images -----------------------------------------------------------------------------------------------


def _image_fault(kind, expect, make: Callable[[], bytes], extension="png", check=None, form=FOLDER):
    def plant(w, t):
        w.token(t)
        (w.folder / f"images/{w.stem(t)}.png").unlink() if form == FOLDER else None
        w.put(f"images/{w.stem(t)}.{extension}", make())

    fault(kind, form, expect, check)(plant)


def _exif_rotated() -> bytes:
    stored = np.zeros((32, 64, 3), np.uint8)
    stored[:, :32] = (220, 30, 30)  # left half red, right half blue: shown turned 90 degrees clockwise (6)
    stored[:, 32:] = (30, 30, 220)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def _grey16() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32), 32768, np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def _cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).convert("CMYK").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()[:300]


def _svg_data_image(data: bytes) -> bytes:
    import base64

    encoded = base64.b64encode(data).decode()
    return _svg(f'<image width="32" height="32" href="data:image/png;base64,{encoded}"/>')


_image_fault(
    "JPEG with EXIF orientation 6",
    KEPT,
    _exif_rotated,
    "jpg",
    check=lambda row: (
        row["image"].height == 1024
        and _near(_pixel(row, 0.5, 0.2), (220, 30, 30), 40)
        and _near(_pixel(row, 0.5, 0.8), (30, 30, 220), 40)
    ),
)
_image_fault("16-bit greyscale PNG", KEPT, _grey16, check=lambda row: _near(_pixel(row, 0.5, 0.5), (128, 128, 128), 2))
_image_fault("CMYK JPEG", KEPT, _cmyk_jpeg, "jpg", check=lambda row: _near(_pixel(row, 0.5, 0.5), (200, 40, 40), 25))
_image_fault("1 x 1 image", KEPT, lambda: png(size=(1, 1)), check=lambda row: row["image"].size == (512, 512))
_image_fault(
    "PNG saved as .jpg",
    KEPT,
    lambda: png((90, 120, 150)),
    "jpg",
    check=lambda row: _near(_pixel(row, 0.5, 0.5), (90, 120, 150), 0),
)
_image_fault("1 x 1000 PNG", "extreme aspect ratio", lambda: png(size=(1, 1000)))
_image_fault("1000 x 1 PNG", "extreme aspect ratio", lambda: png(size=(1000, 1)))
_image_fault(
    "SVG 1 x 100,000", "extreme aspect ratio", lambda: _svg('<rect width="1" height="100000"/>', "1", "100000"), "svg"
)
_image_fault(
    "SVG entity expansion (billion laughs)",
    "svg with entity declarations",
    lambda: _svg(
        "<text>&l9;</text>",
        prolog='<!DOCTYPE svg [<!ENTITY l0 "lol">'
        + "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
        + "]>",
    ),
    "svg",
)
_image_fault(
    "SVG embedding a 30,000 x 30,000 PNG", "decompression bomb", lambda: _svg_data_image(_png_bomb(30000, 30000)), "svg"
)
_image_fault(
    "SVG referencing the outside file",
    "svg with external reference",
    lambda: _svg('<image width="32" height="32" href="file:///etc/hostname"/>'),
    "svg",
)
_image_fault("SVG that is not XML", "corrupt svg", lambda: b"<svg><rect></svg", "svg")
_image_fault("PNG header of 30,000 x 30,000", "decompression bomb", lambda: _png_bomb(30000, 30000))
_image_fault(
    "GIF header of 65,535 x 65,535",
    "decompression bomb",
    lambda: b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b",\0\0\0\0\1\0\1\0\0\2\2D\1\0;",
)
_image_fault("truncated JPEG", "corrupt image", _truncated_jpeg, "jpg")
_image_fault(
    "PDF as the image", "unknown media format", lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
)


# --- zips -------------------------------------------------------------------------------------------------


def _zip_fault(kind, expect, plant_member: Callable, check=None, noted=None):
    def plant(w, t):
        stem = w.stem(t)
        w.put(f"metadata/{stem}.json", _json(metadata(t)))
        plant_member(w, t, f"images/{stem}.png")

    fault(kind, ZIP, expect, check, noted=noted)(plant)


_LINK = (stat.S_IFLNK | 0o777) << 16

for _part, _ext, _target in (("images", "png", "secret.png"), ("metadata", "json", "secret.json"),
                             ("captions", "txt", "secret.txt"), ("prompts", "txt", "secret.txt")):  # fmt: skip

    def _plant_zip_link(w, t, part=_part, ext=_ext, target=_target):
        for other, other_ext in (("images", "png"), ("metadata", "json")):
            if other != part:
                w.put(
                    f"{other}/{w.stem(t)}.{other_ext}", png(colour(int(t))) if other == "images" else _json(metadata(t))
                )
        w.put(f"{part}/{w.stem(t)}.{ext}", str(w.outside / target).encode(), external_attr=_LINK)

    fault(f"{_part} zip member is a link", ZIP, "zip member is a link")(_plant_zip_link)
_zip_fault(
    "zip member with a bad CRC",
    "unreadable file",
    lambda w, t, m: (
        w.put(m, png(colour(int(t))), compress_type=zipfile.ZIP_STORED),
        w.corrupt.add(f"{w.collection}/{m}"),
    ),
)
_zip_fault(
    "zip member climbing out (../)",
    "unsafe member name (climbs out of the archive)",
    lambda w, t, m: w.put(m, png(), name=f"../{m}"),
)
_zip_fault(
    "zip member with an absolute name",
    "unsafe member name (climbs out of the archive)",
    lambda w, t, m: w.put(m, png(), name=f"/{w.collection}/{m}"),
)
_zip_fault(
    "zip member twice under one name",
    "duplicate zip member",
    lambda w, t, m: (w.put(m, png(colour(int(t)))), w.put(m, png(SECRET_COLOUR))),
)
_zip_fault(
    "encrypted zip member",
    "encrypted zip member",
    lambda w, t, m: (w.put(m, png()), w.flags.update({f"{w.collection}/{m}": 0x1})),
)
_zip_fault(
    "zip member in an unknown compression method",
    "unreadable file",
    lambda w, t, m: (w.put(m, png()), w.methods.update({f"{w.collection}/{m}": 97})),
)
_zip_fault(
    "zip member with Windows separators",
    KEPT,
    lambda w, t, m: w.put(m, png(colour(int(t))), name=f"{w.collection}/{m}".replace("/", "\\")),
    check=lambda row: _near(_pixel(row, 0.5, 0.5), colour(int(row["token_id"]))),
)


@fault("zip members with a non-ASCII letter in the id", ZIP, "token id not a uint256")
def _(w, t):
    w.put(f"images/{w.stem('ü' + t)}.png", png())
    w.put(f"metadata/{w.stem('ü' + t)}.json", _json(metadata(t)))


@fault("decompression bomb among the first images", ZIP, "decompression bomb")
def _(w, t):
    w.put(f"metadata/{w.stem(t)}.json", _json(metadata(t)))
    w.put(f"images/{w.stem(t)}.png", b"\0" * (64 * 2**20))


# --- whole collections -------------------------------------------------------------------------------------

COLLECTION_LINKS = {"Stolen": "link to outside the release", "Stolen Zip": "link to outside the release"}
OVERLAP_ZIP, DECLARED_ZIP = "Overlap Zip", "Declared Zip"
# collections the build drops, with (a part of) the reason it gives
DROPPED_COLLECTIONS = {**COLLECTION_LINKS, DECLARED_ZIP: "decompression bomb: its members declare"}
OVERLAPPING_TOKENS = range(FIRST_FAULT_ID, FIRST_FAULT_ID + 5)  # of the Overlap Zip: images in one stream
# collection names that carry terminal escapes, bidi isolates and overrides: (as spelled, as exported, form)
CONTROL_NAMES = [
    ("Evil\x1b]0;pwned\x07\x1b[2J Cats\u202e", FOLDER),
    ("\u2066Evil\x1b[31m\x9b Zip\u2069", ZIP),
]
CONTROL_VALUE = "\u202eLaser\x1b[2J"  # the trait value their tokens carry, and their captions' escape
CONTROL_CAPTION = "\x1b]0;pwned\x07 an escaped caption"


def write_overlap_zip(path: Path, collection: str, good: range, overlapping: range, kernel: bytes) -> None:
    """A collection zip of `good` tokens (stored members) and `overlapping` tokens whose metadata is stored and
    whose images share one DEFLATE stream of `kernel` (`overlapping_chain`)."""
    members = []
    for token_id in [*good, *overlapping]:
        members.append(stored(f"{collection}/metadata/{collection}_{token_id}.json", _json(metadata(str(token_id)))))
    members += [stored(f"{collection}/images/{collection}_{t}.png", png(colour(t))) for t in good]
    names = [f"{collection}/images/{collection}_{t}.png" for t in overlapping]
    write_raw_zip(path, members, overlapping_chain(names, kernel))


def write_declared_zip(path: Path, collection: str, members: int, member_bytes: int) -> None:
    """A zip whose every image member is under the ratio check's size and whose members together declare far more
    than the zip could hold: the same deflated zeros stored `members` times."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = compressor.compress(bytes(member_bytes)) + compressor.flush()
    crc = zlib.crc32(bytes(member_bytes))
    entries = []
    for token_id in range(1, members + 1):
        stem = f"{collection}/%s/{collection}_{token_id}"
        entries.append(stored(stem % "metadata" + ".json", _json(metadata(str(token_id)))))
        entries.append(RawMember(stem % "images" + ".png", zipfile.ZIP_DEFLATED, crc, member_bytes, zeros))
    write_raw_zip(path, entries)


DASHBOARD_NOTES = {
    FOLDER: "dashboard refused: link to outside the release",
    ZIP: "dashboard refused: zip member is a link",
}


def _write_outside(outside: Path) -> None:
    outside.mkdir(parents=True)
    (outside / "secret.png").write_bytes(png(SECRET_COLOUR))
    (outside / "secret.txt").write_text(SECRET_TEXT)
    (outside / "secret.json").write_text(json.dumps(metadata("1", Secret=SECRET_TEXT)))
    stolen = FolderWriter(outside / "Stolen", outside)
    zipped = ZipWriter("Stolen Zip", outside)
    for token_id in range(1, GOOD_TOKENS + 1):
        for writer in (stolen, zipped):
            writer.token(str(token_id), png(SECRET_COLOUR), metadata(str(token_id), Secret=SECRET_TEXT), SECRET_TEXT)
    zipped.write(outside / "Stolen Zip.zip")


def fault_ids(form: str) -> dict[str, Fault]:
    """Token id (canonical) -> the fault planted at it, in one form."""
    planted = [f for f in FAULTS if f.form == form]
    return {
        str(FIRST_FAULT_ID + i) if f.kind != "decompression bomb among the first images" else "1": f
        for i, f in enumerate(planted)
    }


def write_hostile_release(root: Path) -> Path:
    """Write ``root/release`` (and ``root/outside``); returns the release folder."""
    release, outside = root / "release", root / "outside"
    _write_outside(outside)
    folder = FolderWriter(release / FOLDER, outside)
    zipped = ZipWriter(ZIP, outside)
    for writer in (folder, zipped):
        for token_id in range(1, GOOD_TOKENS + 1):
            if writer is zipped and token_id == 1:
                continue  # token 1 of the zip is the decompression bomb
            writer.token(str(token_id))
    for token_id, planted in fault_ids(FOLDER).items():
        planted.plant(folder, token_id)
    for token_id, planted in fault_ids(ZIP).items():
        planted.plant(zipped, token_id)
    folder.link("metadata_dashboard.json", outside / "secret.json")
    zipped.put("metadata_dashboard.json", str(outside / "secret.json").encode(), external_attr=_LINK)
    zipped.write(release / f"{ZIP}.zip")
    (release / "Stolen").symlink_to(outside / "Stolen")
    (release / "Stolen Zip.zip").symlink_to(outside / "Stolen Zip.zip")
    write_overlap_zip(release / f"{OVERLAP_ZIP}.zip", OVERLAP_ZIP, range(1, GOOD_TOKENS + 1), OVERLAPPING_TOKENS,
                      bytes(2**20))  # fmt: skip
    write_declared_zip(release / f"{DECLARED_ZIP}.zip", DECLARED_ZIP, 24, 7 * 2**20)
    for spelled, form in CONTROL_NAMES:
        writer = FolderWriter(release / spelled, outside) if form == FOLDER else ZipWriter(spelled, outside)
        for token_id in range(1, GOOD_TOKENS + 1):
            writer.token(str(token_id), meta=metadata(str(token_id), Eyes=CONTROL_VALUE), caption=CONTROL_CAPTION)
        if form == ZIP:
            writer.write(release / f"{spelled}.zip")
    return release
