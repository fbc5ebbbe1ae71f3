import io
import json
import re
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from nft1000_dataset.examples import token_row
from nft1000_dataset.release import (
    CollectionSource,
    MemberTooLarge,
    NotText,
    ReleaseError,
    canonical_token_id,
    decode_text,
    discover_collections,
    token_id_from_stem,
    token_sort_key,
)


def _png(colour=(10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_zip(path, members: dict[str, bytes], compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_folders_and_zips_are_discovered_by_name(synth_folders, synth_zips):
    folders = discover_collections(synth_folders / "release")
    zips = discover_collections(synth_zips / "release")
    assert [c.name for c in folders] == [c.name for c in zips]
    assert all(c.is_zip for c in zips) and not any(c.is_zip for c in folders)


def test_tokens_come_in_numeric_order_with_uint256_ids_as_strings(synth_folders):
    sources = discover_collections(synth_folders / "release")
    big = next(s for s in sources if s.name.startswith("Lazy Bots"))  # the synthetic collection with uint256 ids
    with big.open() as reader:
        ids = reader.token_ids()
    assert all(int(i) >= 2**255 for i in ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    assert sorted(["10", "9", "2", "x", "100"], key=token_sort_key) == ["2", "9", "10", "100", "x"]


def test_a_zip_is_read_in_place_and_gives_the_same_rows_as_the_folder(synth_folders, synth_zips):
    for folder, zipped in zip(
        discover_collections(synth_folders / "release"), discover_collections(synth_zips / "release"), strict=True
    ):
        if folder.name != "Pixel Apes 0":
            continue
        with folder.open() as a, zipped.open() as b:
            assert a.token_ids() == b.token_ids()
            for token_id in a.token_ids()[-3:]:
                assert token_row(a, token_id, 512, "s") == token_row(b, token_id, 512, "s")


@pytest.mark.parametrize("member", ["../evil/images/x_1.png", "/abs/images/x_1.png", "..\\images\\x_1.png"])
def test_zip_members_that_climb_out_refuse_their_token_and_nothing_else(tmp_path, member):
    path = tmp_path / "Evil.zip"
    _write_zip(path, {member: _png(), "Evil/metadata/Evil_1.json": b"{}", "Evil/images/Evil_2.png": _png()})
    with CollectionSource("Evil", str(path)).open() as reader:
        assert reader.tokens["1"].refused.startswith("unsafe member name")
        assert reader.tokens["1"].image is None and reader.tokens["2"].refused is None


def test_zip_bomb_members_are_refused_from_the_directory_and_never_inflated(tmp_path):
    path = tmp_path / "Bomb.zip"
    _write_zip(path, {"Bomb/images/Bomb_1.png": b"\0" * (64 * 1024 * 1024), "Bomb/metadata/Bomb_1.json": b"{}"})
    with CollectionSource("Bomb", str(path)).open() as reader:
        assert reader.tokens["1"].refused == MemberTooLarge.reason and reader.tokens["1"].image is None
        with pytest.raises(MemberTooLarge, match=re.escape("Bomb.zip!Bomb/metadata/Bomb_1.json")):
            reader.read_bytes(reader.tokens["1"].metadata, limit=1)


def test_a_collection_in_both_forms_is_an_error(tmp_path):
    (tmp_path / "Twin" / "images").mkdir(parents=True)
    _write_zip(tmp_path / "Twin.zip", {"Twin/metadata/Twin_1.json": json.dumps({}).encode()})
    with pytest.raises(ReleaseError, match="there twice"):
        discover_collections(tmp_path)


def test_a_missing_release_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ReleaseError, match="no such folder"):
        discover_collections(tmp_path / "nope")


@given(st.text(min_size=1, max_size=20), st.integers(0, 2**256 - 1))
def test_the_token_id_is_what_follows_the_last_underscore(name, token_id):
    assert token_id_from_stem(f"{name}_{token_id}") == str(token_id)


@given(st.integers(0, 2**256 - 1), st.integers(0, 5))
def test_a_uint256_with_leading_zeros_is_the_same_token(value, zeros):
    assert canonical_token_id("0" * zeros + str(value)) == str(value)


@given(st.one_of(st.integers(2**256, 2**300).map(str), st.integers(-(10**9), -1).map(str), st.text(min_size=1)))
def test_anything_but_a_uint256_in_ascii_digits_is_no_token_id(text):
    if text.isascii() and text.isdigit() and int(text) < 2**256:
        return
    assert canonical_token_id(text) is None


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"))), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_text_in_utf8_or_with_a_bom_decodes_exactly(text, encoding):
    assert decode_text(text.encode(encoding))[0] == text


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_text_or_are_refused_as_binary(data):
    try:
        text, encoding = decode_text(data)
    except NotText:
        return
    assert (
        isinstance(text, str) and "\x00" not in text and encoding in ("utf-8", "cp1252", "latin-1", "utf-16", "utf-32")
    )


def test_a_collection_name_that_is_nothing_once_cleaned_is_refused_unopened(tmp_path):
    (tmp_path / "\u202e\u200b\x1b" / "images").mkdir(parents=True)
    (tmp_path / "Fine" / "images").mkdir(parents=True)
    sources = {source.name: source for source in discover_collections(tmp_path)}
    assert sources["Fine"].refused is None and sources["Fine"].spelled is None
    empty = next(source for name, source in sources.items() if name != "Fine")
    assert empty.refused == "collection name empty once cleaned" and "\x1b" not in empty.name
