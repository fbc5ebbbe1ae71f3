"""A hostile or broken release (`nft1000_testing.hostile`): the build exits 0, reads nothing from outside the release,
counts every token (read = kept + skipped), skips each planted token with its reason or keeps it correct, and its
memory stays bounded."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from nft1000_dataset.attributes import CLEANED
from nft1000_dataset.release import NAME_CLEANED, normalize_name
from nft1000_io.text import needs_cleaning
from nft1000_testing.hostile import (
    COLLECTION_LINKS,
    CONTROL_NAMES,
    DASHBOARD_NOTES,
    DROPPED_COLLECTIONS,
    FAULTS,
    FOLDER,
    GOOD_TOKENS,
    KEPT,
    OVERLAP_ZIP,
    OVERLAPPING_TOKENS,
    SECRET_COLOUR,
    SECRET_TEXT,
    ZIP,
    fault_ids,
    write_hostile_release,
)

PEAK_MEMORY_BYTES = 1536 * 2**20  # python, datasets and pyarrow take ~400 MiB; a bomb that got through takes GiBs
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX links and named pipes")


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    release = write_hostile_release(root)
    out = root / "out"
    command = [sys.executable, "-m", "nft1000.cli", "build", "--raw", str(release), "--out", str(out),
               "--min-tokens", "5", "--split-ratios", "1", "0", "0"]  # fmt: skip
    with open(root / "build.log", "w+") as log:
        build = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(build.pid, 0)  # this child's own peak, not the session's largest child's
        build.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()  # stdout and stderr together
        result = subprocess.CompletedProcess(command, build.returncode, output, output)
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    rows = {}
    for shard in sorted((out / "data" / "full").glob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            row["image"] = Image.open(io.BytesIO(row["image"]["bytes"]))
            rows[(row["collection"], row["token_id"])] = row
    return root, out, result, peak, rows


def _report(out: Path) -> dict:
    return json.loads((out / "build_report.json").read_text())["full"]["report"]


def test_there_are_at_least_40_kinds_of_bad_input():
    assert len({f.kind for f in FAULTS}) + len(COLLECTION_LINKS) >= 40


def test_the_build_exits_0_and_every_collection_adds_up(hostile_build):
    _, out, result, _, _ = hostile_build
    assert result.returncode == 0, result.stderr[-3000:]
    for collection, tally in _report(out)["splits"]["train"]["per_collection"].items():
        assert tally["read"] == tally["kept"] + sum(tally["skipped"].values()), collection


@pytest.mark.parametrize("form", [FOLDER, ZIP])
def test_every_planted_token_is_skipped_with_its_reason_or_kept_correct(hostile_build, form):
    _, out, result, _, rows = hostile_build
    tally = _report(out)["splits"]["train"]["per_collection"][form]
    expected = Counter()
    for token_id, planted in fault_ids(form).items():
        expected.update(planted.also_skipped)
        if planted.expect != KEPT:
            expected[planted.expect] += 1
            assert (form, token_id) not in rows, planted.kind
            continue
        row = rows.get((form, token_id))
        assert row is not None, f"{planted.kind}: not kept ({result.stderr[-2000:]})"
        assert planted.check is None or planted.check(row), planted.kind
    assert Counter(tally["skipped"]) == expected
    for planted in fault_ids(form).values():
        assert planted.noted is None or tally["notes"].get(planted.noted), planted.kind
    assert tally["notes"][DASHBOARD_NOTES[form]] == 1


@pytest.mark.parametrize("form", [FOLDER, ZIP])
def test_every_good_token_is_exported(hostile_build, form):
    rows = hostile_build[4]
    good = range(2 if form == ZIP else 1, GOOD_TOKENS + 1)  # token 1 of the zip is the planted bomb
    assert all((form, str(token_id)) in rows for token_id in good)


def test_collections_that_link_outside_or_declare_a_bomb_are_dropped_unread(hostile_build):
    _, out, _, _, rows = hostile_build
    dropped = _report(out)["dropped_collections"]
    assert set(dropped) == set(DROPPED_COLLECTIONS)
    assert all(part in dropped[name] for name, part in DROPPED_COLLECTIONS.items())
    assert not {collection for collection, _ in rows} & set(DROPPED_COLLECTIONS)


def test_images_that_share_one_deflate_stream_are_skipped_and_the_rest_kept(hostile_build):
    _, out, _, _, rows = hostile_build
    tally = _report(out)["splits"]["train"]["per_collection"][OVERLAP_ZIP]
    assert tally["skipped"] == {"overlapping zip member": len(OVERLAPPING_TOKENS)}
    assert tally["kept"] == GOOD_TOKENS == sum(collection == OVERLAP_ZIP for collection, _ in rows)


@pytest.mark.parametrize(("spelled", "form"), CONTROL_NAMES)
def test_names_values_and_captions_are_exported_clean_and_each_cleaning_is_noted(hostile_build, spelled, form):
    _, out, _, _, rows = hostile_build
    name = normalize_name(spelled)
    assert needs_cleaning(spelled) and not needs_cleaning(name) and name
    kept = [row for (collection, _), row in rows.items() if collection == name]
    assert len(kept) == GOOD_TOKENS
    for row in kept:
        texts = [row["collection"], row["caption"], row["prompt"], row["release_caption"]]
        texts += [a[key] for a in row["attributes"] for key in ("trait_type", "value")]
        assert not any(needs_cleaning(text) for text in texts), row["token_id"]
    notes = _report(out)["splits"]["train"]["per_collection"][name]["notes"]
    assert notes[NAME_CLEANED] == 1 and notes[CLEANED] == GOOD_TOKENS
    assert notes["release caption cleaned of control or invisible characters"] == GOOD_TOKENS


def test_no_string_of_the_export_and_no_line_of_the_build_output_can_control_a_terminal(hostile_build):
    _, out, result, _, rows = hostile_build
    for key, row in rows.items():
        strings = [v for v in row.values() if isinstance(v, str)] + [a["value"] for a in row["attributes"]]
        assert not any(needs_cleaning(text) for text in strings), key
    assert not needs_cleaning(result.stdout), [line for line in result.stdout.splitlines() if needs_cleaning(line)]
    for path in [out / "README.md", out / "build_report.json"]:
        assert not needs_cleaning(path.read_text()), path


def test_no_byte_of_an_outside_file_reaches_the_export(hostile_build):
    _, out, _, _, rows = hostile_build
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET_TEXT.encode() not in path.read_bytes(), path
    for key, row in rows.items():
        pixels = np.asarray(row["image"].convert("RGB"))
        assert not (pixels == SECRET_COLOUR).all(axis=-1).any(), key
        assert SECRET_TEXT not in json.dumps(row, default=str), key


def test_the_report_and_the_card_name_every_skip_kind(hostile_build):
    _, out, _, _, _ = hostile_build
    card = (out / "README.md").read_text()
    reasons = {f.expect for f in FAULTS if f.expect != KEPT} | {r for f in FAULTS for r in f.also_skipped}
    for reason in reasons | {f.noted for f in FAULTS if f.noted}:
        assert reason in card, reason


def test_peak_memory_stays_bounded(hostile_build):
    assert 0 < hostile_build[3] < PEAK_MEMORY_BYTES
