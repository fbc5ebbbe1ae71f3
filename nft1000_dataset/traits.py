"""The traits a collection uses, and trait requests (``"Hair=Pink Hairband"``) checked against them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .attributes import Attribute, is_absent

TraitVocabulary = dict[str, list[str]]  # trait_type -> its values, sorted


def trait_vocabulary(attribute_lists: Iterable[list[Attribute]]) -> TraitVocabulary:
    """Every trait type of a collection with the values its tokens carry (absent values left out)."""
    found: dict[str, set[str]] = {}
    for attributes in attribute_lists:
        for attribute in attributes:
            if not is_absent(attribute):
                found.setdefault(attribute["trait_type"], set()).add(attribute["value"])
    return {trait: sorted(values) for trait, values in sorted(found.items())}


def parse_trait(spec: str) -> Attribute:
    """``"Trait Type=Value"`` as an attribute; surrounding spaces are ignored, the value may contain ``=``."""
    trait, sep, value = spec.partition("=")
    trait, value = trait.strip(), value.strip()
    if not sep or not trait or not value:
        raise ValueError(f'trait {spec!r}: expected TRAIT=VALUE, e.g. "Hair=Pink Hairband"')
    return {"trait_type": trait, "value": value, "display_type": None}


def _closest(word: str, candidates: Iterable[str]) -> str:
    candidates = list(candidates)
    folded = {c.casefold(): c for c in candidates}
    matches = [folded[m] for m in difflib.get_close_matches(word.casefold(), list(folded), n=5, cutoff=0.5)]
    return ", ".join(repr(m) for m in matches) if matches else "none close; known: " + ", ".join(candidates[:20])


def check_traits(attributes: list[Attribute], vocabulary: TraitVocabulary, collection: str) -> None:
    """Raise a ValueError naming every trait type or value unknown to `collection`, with the close matches."""
    problems, seen = [], set()
    for attribute in attributes:
        trait, value = attribute["trait_type"], attribute["value"]
        if trait in seen:
            problems.append(f"trait type {trait!r} is given twice")
        seen.add(trait)
        if trait not in vocabulary:
            problems.append(f"{collection} has no trait type {trait!r} (close: {_closest(trait, vocabulary)})")
        elif value not in vocabulary[trait]:
            close = _closest(value, vocabulary[trait])
            problems.append(f"{collection} has no {trait!r} value {value!r} (close: {close})")
    if problems:
        raise ValueError("; ".join(problems))
