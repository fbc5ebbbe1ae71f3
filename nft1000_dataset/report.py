"""Counting what a build read, kept and skipped, and why: nothing is lost silently.

For every collection: ``read`` (tokens that have any file) = ``kept`` + the sum of ``skipped`` over reasons.
Tokens of a dropped collection are all skipped under ``"collection dropped: <reason>"``; tokens left out of
the ``mini`` sample under ``"not in mini sample"``. Notes count what a build left aside or changed without
deciding a token's fate: files that are not the release's (a backup, a second image of a token), attribute
values dropped, texts read in another encoding.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nft1000_io.text import markdown_cell, terminal_safe

EXAMPLES_PER_REASON = 5
MAX_EXAMPLE_CHARS = 200


class CountedError(ValueError):
    """One token's failure; ``reason`` is the short label a report counts it under, the message adds the detail."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def printable(text: str) -> str:
    """`text` safe to write as UTF-8 JSON and logs and to print: control characters and undecodable file-name
    bytes as escapes (`nft1000_io.text.terminal_safe`), at most 200 chars."""
    return terminal_safe(text)[:MAX_EXAMPLE_CHARS]


@dataclass
class Tally:
    """Kept count and skipped counts by reason, with a few token ids per reason for the log."""

    read: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: Counter = field(default_factory=Counter)

    def keep(self, n: int = 1) -> None:
        self.read += n
        self.kept += n

    def skip(self, reason: str, token_id: str | None = None, n: int = 1) -> None:
        self.read += n
        self.skipped[reason] += n
        self._example(reason, token_id)

    def note(self, label: str, example: str | None = None, n: int = 1) -> None:
        """Count something left aside or changed that does not decide a token's fate."""
        self.notes[label] += n
        self._example(label, example)

    def _example(self, label: str, example: str | None) -> None:
        if example is not None:
            ids = self.examples.setdefault(label, [])
            if len(ids) < EXAMPLES_PER_REASON:
                ids.append(printable(example))

    def merge(self, other: Tally) -> None:
        self.read += other.read
        self.kept += other.kept
        self.skipped.update(other.skipped)
        self.notes.update(other.notes)
        for reason, ids in other.examples.items():
            mine = self.examples.setdefault(reason, [])
            mine.extend(ids[: EXAMPLES_PER_REASON - len(mine)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "skipped": dict(sorted(self.skipped.items())),
            "notes": dict(sorted(self.notes.items())),
            "examples": {k: v for k, v in sorted(self.examples.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        examples = dict(data.get("examples", {}))
        return cls(data["read"], data["kept"], Counter(data["skipped"]), examples, Counter(data.get("notes", {})))


@dataclass
class BuildReport:
    """Per split and collection tallies, and the collections dropped with their reason."""

    config: str
    collections: dict[str, dict[str, Tally]] = field(default_factory=dict)  # split -> collection -> tally
    dropped: dict[str, str] = field(default_factory=dict)  # collection -> reason

    def add(self, split: str, collection: str, tally: Tally) -> None:
        self.collections.setdefault(split, {}).setdefault(collection, Tally()).merge(tally)

    def split_total(self, split: str) -> Tally:
        total = Tally()
        for tally in self.collections.get(split, {}).values():
            total.merge(tally)
        return total

    def kept_collections(self, split: str) -> list[str]:
        return sorted(c for c, t in self.collections.get(split, {}).items() if t.kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "dropped_collections": dict(sorted(self.dropped.items())),
            "splits": {
                split: {
                    "collections": len(self.kept_collections(split)),
                    "total": self.split_total(split).to_dict(),
                    "per_collection": {c: t.to_dict() for c, t in sorted(per.items())},
                }
                for split, per in self.collections.items()
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        """The table printed after a build and written into the dataset card."""
        lines = [
            f"| split ({self.config}) | collections | read | pairs kept | skipped (reason: count) | notes |",
            "| --- | ---: | ---: | ---: | --- | --- |",
        ]
        for split in self.collections:
            total = self.split_total(split)
            reasons = ", ".join(f"{markdown_cell(r)}: {n}" for r, n in sorted(total.skipped.items())) or "none"
            notes = ", ".join(f"{markdown_cell(r)}: {n}" for r, n in sorted(total.notes.items())) or "none"
            kept = len(self.kept_collections(split))
            lines.append(f"| {split} | {kept} | {total.read} | {total.kept} | {reasons} | {notes} |")
        if self.dropped:
            lines.append("")
            dropped = "; ".join(f"{markdown_cell(c)} ({markdown_cell(r)})" for c, r in sorted(self.dropped.items()))
            lines.append(f"Dropped collections: {dropped}")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildReport:
        report = cls(config=data["config"], dropped=dict(data.get("dropped_collections", {})))
        for split, split_data in data.get("splits", {}).items():
            for collection, tally in split_data["per_collection"].items():
                report.add(split, collection, Tally.from_dict(tally))
        return report
