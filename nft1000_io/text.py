"""Text from a release is data, never control: one rule for what is cleaned where text comes in, and one for what
is escaped where text goes out to a terminal, a log or a Markdown report.

- `clean_text` (in): runs of whitespace and control characters (C0, C1, DEL, line and paragraph separators)
  become one space, and invisible formatting characters (bidi overrides and isolates, zero-width spaces, word
  joiners, the BOM, tags) go. The zero-width joiner and non-joiner stay: scripts and emoji need them.
- `terminal_safe` (out): what could still move a cursor, retitle a window or reorder a line is written as an
  escape (``\\x1b``, ``\\u202e``), as `repr` writes it; so are undecodable file-name bytes (lone surrogates).
- `markdown_cell` (out, in a table): `terminal_safe`, with ``|``, ``<`` and ``[`` backslash-escaped (no column
  break, tag or link; CommonMark shows them as written).
- `echo` and `SafeLogFormatter`: `print` and every log line through `terminal_safe`, line ends kept.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

# Unicode's format characters (category Cf) but the joiners U+200C and U+200D, which scripts and emoji need
_INVISIBLE = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
_SPACE_RUNS = re.compile(f"[\\s{_CONTROLS}]+")
_INVISIBLE_CHARS = re.compile(f"[{_INVISIBLE}]+")
_UNSAFE = re.compile(f"[{_CONTROLS}{_INVISIBLE}\ud800-\udfff]")
_PLAIN_WHITESPACE = str.maketrans("\t\n\r", "   ")
_MARKDOWN_ACTIVE = str.maketrans({"|": "\\|", "<": "\\<", "[": "\\["})


def clean_text(text: str) -> str:
    """`text` with control runs as one space, invisible formatting removed, and no space at either end."""
    visible = text if text.isascii() else _INVISIBLE_CHARS.sub("", text)  # every invisible character is non-ASCII
    return _SPACE_RUNS.sub(" ", visible).strip()


def needs_cleaning(text: str) -> bool:
    """True if `text` holds a control or invisible character other than the line ends and tabs of plain text
    (a change worth a note when `clean_text` removes it)."""
    return _UNSAFE.search(text.translate(_PLAIN_WHITESPACE)) is not None


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_safe(text: str, keep: str = "") -> str:
    """`text` with every character that could control a terminal escaped, but those in `keep` (``"\\n"`` for
    text of several lines)."""
    if not keep:
        return _UNSAFE.sub(_escape, text)
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)


def markdown_cell(text: object) -> str:
    """`text` as one Markdown table cell that reads as written: terminal-safe, no column break, no tag, no link."""
    return terminal_safe(str(text)).translate(_MARKDOWN_ACTIVE)


def echo(text: str = "", file: TextIO | None = None, end: str = "\n") -> None:
    """`print` for text that may carry a dataset's strings: terminal-safe, its line ends and tabs kept."""
    print(terminal_safe(text, keep="\n\t"), file=file or sys.stdout, end=end)


class SafeLogFormatter(logging.Formatter):
    """A formatter whose lines cannot control the terminal they are read on (a collection name in a log)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record), keep="\n\t")


def configure_logging(fmt: str, level: int = logging.INFO) -> None:
    """`logging.basicConfig` with a `SafeLogFormatter` (a no-op, as basicConfig is, where logging is set up)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(SafeLogFormatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
