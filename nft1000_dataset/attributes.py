"""Normalise the attribute lists of ERC-721 metadata into one form.

Real metadata writes traits in several shapes: the OpenSea list of ``{"trait_type", "value"}``, a plain
``{trait: value}`` dict, a ``traits`` key instead of ``attributes``, numbers with a ``display_type``, a
JSON string holding the list, and missing values. Every form becomes a list of
``{"trait_type": str, "value": str, "display_type": str | None}`` in the order the metadata gives. Text is
cleaned as collection names are (`nft1000_io.text.clean_text`: control runs become one space, invisible
formatting goes); a value that is missing, null, not a finite number or over `MAX_VALUE_CHARS` is dropped, a
token keeps at most `MAX_ATTRIBUTES`, and every change is counted by its note when a counter is given.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np

from nft1000_io.text import clean_text, needs_cleaning

from .report import CountedError

ABSENT_VALUES = frozenset({"", "none", "null", "n/a", "nothing", "no trait"})
NUMERIC_DISPLAY_TYPES = frozenset({"number", "boost_number", "boost_percentage", "date"})
UNNAMED_TRAIT = "trait"
MAX_JSON_DEPTH = 200  # metadata nests a few levels; json's C parser would overflow the stack where a library
# (web3 does) has raised Python's recursion limit
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
MAX_VALUE_CHARS = 512  # a trait name or value longer than this describes no pixels (CLIP reads 77 tokens)
# PFP tokens carry a handful of traits (CryptoPunks at most 8 with the count, the synthetic real-like mode 14);
# a few hundred would already make a caption that no text model reads
MAX_ATTRIBUTES = 100
CLEANED = "attribute text cleaned of control or invisible characters"
DROPPED = "attribute value dropped: "
OVER_MAX_ATTRIBUTES = f"attributes over {MAX_ATTRIBUTES} left out"


class Attribute(TypedDict):
    trait_type: str
    value: str
    display_type: str | None


class MetadataError(CountedError):
    """The metadata of one token cannot be used."""


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON `text` (brackets inside strings do not count)."""
    codes = np.frombuffer(_JSON_STRING.sub('""', text).encode("utf-8", "surrogatepass"), np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def loads_metadata(text: str | bytes) -> Any:
    """`json.loads` that refuses nesting deeper than `MAX_JSON_DEPTH` before parsing; raises ValueError (as
    json does for bad JSON and for integers of more than 4,300 digits)."""
    if isinstance(text, bytes):  # UTF-8, -16 or -32 by their first bytes, as json.loads reads bytes
        text = text.decode(json.detect_encoding(text), "surrogatepass").removeprefix("\ufeff")
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and (depth := json_depth(text)) > MAX_JSON_DEPTH:
        raise ValueError(f"nested {depth} deep (at most {MAX_JSON_DEPTH})")
    return json.loads(text)


def _format_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (int, str)):
        return clean_text(str(value)) or None
    if isinstance(value, (list, tuple)):
        parts = [p for p in (_format_value(v) for v in value) if p]
        return ", ".join(parts) if parts else None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _drop_reason(value: Any, text: str | None) -> str | None:
    """Why `value` (formatted as `text`) is dropped, or None if it is kept."""
    if text is not None:
        return "too long" if len(text) > MAX_VALUE_CHARS else None
    if value is None:
        return "null"
    if isinstance(value, float):
        return "not a finite number"
    return "empty"


def _entry(trait_type: Any, value: Any, display_type: Any = None, notes: Counter | None = None) -> Attribute | None:
    text = _format_value(value)
    reason = _drop_reason(value, text)
    name = _format_value(trait_type) or UNNAMED_TRAIT
    if reason is None and len(name) > MAX_VALUE_CHARS:
        reason = "trait name too long"
    if notes is None:
        notes = Counter()
    if reason is not None:
        notes[DROPPED + reason] += 1
        return None
    display = _format_value(display_type) if display_type else None
    kept = ((trait_type, name), (value, text), (display_type, display))
    if any(isinstance(raw, str) and raw != clean and needs_cleaning(raw) for raw, clean in kept):
        notes[CLEANED] += 1
    return Attribute(trait_type=name, value=text, display_type=display)


def normalize_attributes(metadata: Any, notes: Counter | None = None) -> list[Attribute]:
    """Return the token's attributes in the normal form; raise `MetadataError` if the metadata has none. What
    was dropped, cleaned or left out is counted in `notes` by its label (`DROPPED` + the reason, `CLEANED`,
    `OVER_MAX_ATTRIBUTES`)."""
    if not isinstance(metadata, dict):
        raise MetadataError("malformed metadata", f"expected a JSON object, got {type(metadata).__name__}")
    raw = metadata.get("attributes", metadata.get("traits"))
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise MetadataError("malformed metadata", f"attributes string is not JSON ({err})") from None
    entries: list[Attribute | None]
    if isinstance(raw, dict):
        raw = [{"trait_type": k, "value": v} for k, v in raw.items()]
    if isinstance(raw, list):
        if len(raw) > MAX_ATTRIBUTES and notes is not None:
            notes[OVER_MAX_ATTRIBUTES] += len(raw) - MAX_ATTRIBUTES
        entries = []
        for item in raw[:MAX_ATTRIBUTES]:
            if isinstance(item, dict):
                name = item.get("trait_type", item.get("type", item.get("key")))
                entries.append(_entry(name, item.get("value"), item.get("display_type"), notes))
            else:
                entries.append(_entry(None, item, notes=notes))
    elif raw is None:
        raise MetadataError("no attributes", "metadata has no 'attributes' or 'traits'")
    else:
        raise MetadataError("malformed metadata", f"attributes is a {type(raw).__name__}")
    attributes = [e for e in entries if e is not None]
    if not attributes:
        raise MetadataError("no attributes", "the attribute list is empty")
    return attributes


def is_absent(attribute: Attribute) -> bool:
    """True for values that mean 'this trait is not there' ("None", empty, ...)."""
    return attribute["value"].strip().lower() in ABSENT_VALUES


def is_numeric(attribute: Attribute) -> bool:
    """True for OpenSea numeric traits (levels, boosts, dates): they describe no pixels."""
    return (attribute["display_type"] or "").lower() in NUMERIC_DISPLAY_TYPES


ALL_TRAITS = "traits"  # what a count of every other attribute of the token counts


def count_traits(tokens: Sequence[list[Attribute]]) -> dict[str, str]:
    """Trait types whose value is, on every token, the number of the token's attributes of another trait type
    (or of all its other attributes, ``ALL_TRAITS``): ``{count trait type: what it counts}``, e.g. CryptoPunks'
    ``accessory count``. They describe no pixels of their own. A trait type qualifies only if every token has
    exactly one whole-number value of it and the count takes at least two values."""
    kinds = {a["trait_type"] for attributes in tokens for a in attributes}
    found = {}
    for trait in sorted(kinds):
        values = [[a["value"].strip() for a in attributes if a["trait_type"] == trait] for attributes in tokens]
        if not all(len(v) == 1 and v[0].isdigit() for v in values) or len({v[0] for v in values}) < 2:
            continue
        present = [[a["trait_type"] for a in attributes if a["trait_type"] != trait and not is_absent(a)]
                   for attributes in tokens]  # fmt: skip
        for counted in [*sorted(kinds - {trait}), ALL_TRAITS]:
            if all(
                int(v[0]) == (len(types) if counted == ALL_TRAITS else types.count(counted))
                for v, types in zip(values, present, strict=True)
            ):
                found[trait] = counted
                break
    return found
