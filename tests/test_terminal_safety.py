"""Text from a dataset is data, never control: a foreign export (one `nft1000 build` did not write, as one from the
Hub may be) whose collection names and captions carry terminal escapes and bidi controls goes through every command
that prints or writes a report of it, and nothing reaches the terminal or a Markdown file unescaped."""

from __future__ import annotations

import json
import logging
import shutil
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nft1000.cli import main
from nft1000_io.text import (
    SafeLogFormatter,
    clean_text,
    echo,
    markdown_cell,
    needs_cleaning,
    terminal_safe,
)

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\u202e\x9b"


def _hostile(text: str) -> str:
    return f"{ESCAPES}{text}\u2066"


@pytest.fixture(scope="module")
def foreign_export(tmp_path_factory, exported):
    """The test export with every collection name and caption wrapped in escapes, shards and index alike."""
    folder = tmp_path_factory.mktemp("foreign") / "hostile-export"
    shutil.copytree(exported[0], folder)
    for shard in folder.glob("data/*/*.parquet"):  # new names too: no cache of the original export can answer
        table = pq.read_table(shard)
        for column in ("collection", "caption"):
            values = pa.array([_hostile(v) for v in table.column(column).to_pylist()], pa.string())
            table = table.set_column(table.schema.get_field_index(column), column, values)
        split, rest = shard.name.split("-", 1)
        pq.write_table(table, shard.with_name(f"{split}-hostile-{rest}"))
        shard.unlink()
    index = json.loads((folder / "collections.json").read_text())
    renamed = {
        config: {
            _hostile(name): {**entry, "files": [f.replace("-", "-hostile-", 1) for f in entry["files"]]}
            for name, entry in entries.items()
        }
        for config, entries in index.items()
    }
    (folder / "collections.json").write_text(json.dumps(renamed))
    return folder


def _assert_safe(text: str) -> None:
    assert not needs_cleaning(text), [line for line in text.splitlines() if needs_cleaning(line)][:3]


def test_every_command_that_prints_a_dataset_prints_its_escapes_as_text(foreign_export, clip_folder, tmp_path, capsys):
    data = ["--dataset", str(foreign_export), "--config", "full", "--split", "train"]
    index = tmp_path / "index"
    commands = {
        "eval": ["eval", "--model", str(clip_folder), *data, "--output-dir", str(tmp_path / "eval")],
        "cvi": ["cvi", "--model", str(clip_folder), *data, "--output-dir", str(tmp_path / "cvi")],
        "index": ["index", "--model", str(clip_folder), *data, "--out", str(index)],
        "search": ["search", str(index), "a token with blue eyes", "-k", "5"],
    }
    for name, argv in commands.items():
        assert main(argv) == 0, name
        printed = capsys.readouterr()
        _assert_safe(printed.out + printed.err)
        shown = terminal_safe(ESCAPES) if name == "search" else markdown_cell(ESCAPES)
        assert name == "index" or shown in printed.out, (name, printed.out[-1500:])  # shown, as escapes
    collection = next(iter(json.loads((index / "index.json").read_text())["collections"]))
    assert main(["piracy", str(index), "--collection", collection, "--out", str(tmp_path / "piracy")]) == 0
    _assert_safe("".join(capsys.readouterr()))
    for report in tmp_path.rglob("*.md"):
        _assert_safe(report.read_text())


def test_a_log_line_naming_a_hostile_collection_is_escaped():
    record = logging.LogRecord("nft1000", logging.WARNING, __file__, 1, "collection %r dropped: %s", None, None)
    record.args = (ESCAPES, f"unreadable {ESCAPES}")
    line = SafeLogFormatter("%(levelname)s %(message)s").format(record)
    _assert_safe(line)
    assert "\\x1b]0;pwned\\x07" in line


def test_an_error_line_is_escaped(capsys, tmp_path):
    missing = tmp_path / f"no{ESCAPES}such"
    assert main(["build", "--raw", str(missing), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    _assert_safe(err)
    assert "no\\x1b]0;pwned" in err


def test_echo_keeps_line_ends_and_escapes_the_rest(capsys):
    echo(f"a\tb\n{ESCAPES}")
    out = capsys.readouterr().out
    assert out.startswith("a\tb\n") and "\x1b" not in out


@given(st.text())
def test_cleaned_text_needs_no_cleaning_and_cleaning_twice_changes_nothing(text):
    cleaned = clean_text(text)
    assert not needs_cleaning(cleaned)
    assert clean_text(cleaned) == cleaned == cleaned.strip()


@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))))
def test_text_that_controls_nothing_passes_unchanged(text):
    assert terminal_safe(text) == text
    assert clean_text(text) == " ".join(text.split())


@given(st.text())
def test_escaped_text_controls_nothing_and_keeps_every_visible_character(text):
    escaped = terminal_safe(text)
    assert not needs_cleaning(escaped)
    rest = iter(escaped)
    visible = [char for char in text if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    assert all(char in rest for char in visible)  # in order: a subsequence


def test_joiners_stay_for_the_scripts_and_emoji_that_need_them():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean_text(family) == family and clean_text("\u0645\u200c\u06cc") == "\u0645\u200c\u06cc"


@given(st.text())
def test_a_markdown_cell_breaks_no_table_and_opens_no_tag_or_link(text):
    cell = markdown_cell(text)
    unescaped = cell.replace("\\|", "").replace("\\<", "").replace("\\[", "")
    assert "|" not in unescaped and "<" not in unescaped and "[" not in unescaped
    _assert_safe(cell)
