"""The one template that turns attributes into a caption (retrieval) or a prompt (generation).

Each attribute becomes one phrase, so code that masks a component can rebuild the caption with that
attribute's phrase removed by calling the same function on fewer attributes (paper, section 5.2).
Attributes whose value means "absent" ("None", empty) describe nothing and get no phrase. A caption and a prompt
are at most `MAX_CAPTION_CHARS` long: `fit_attributes` keeps the attributes that fit, in order.
"""

from __future__ import annotations

from collections.abc import Iterable

from .attributes import Attribute, is_absent

# about 25 traits of the usual length; CLIP reads 77 tokens (some 300 characters), and a caption of thousands
# would only cost memory in every row, collator and index that holds it
MAX_CAPTION_CHARS = 2048
CAPTION_BOUND = f"attributes left out: caption or prompt over {MAX_CAPTION_CHARS} characters"


def attribute_phrase(attribute: Attribute) -> str:
    """The phrase of one attribute: ``"<trait_type>: <value>"``."""
    return f"{attribute['trait_type']}: {attribute['value']}"


def caption_phrases(attributes: Iterable[Attribute]) -> list[str]:
    """The phrases a caption is made of, in attribute order, without absent values."""
    return [attribute_phrase(a) for a in attributes if not is_absent(a)]


def build_caption(collection: str, attributes: Iterable[Attribute]) -> str:
    """``"An NFT from <collection> with <phrase>; <phrase>."``, or without the tail if nothing is left."""
    phrases = caption_phrases(attributes)
    if not phrases:
        return f"An NFT from {collection}."
    return f"An NFT from {collection} with " + "; ".join(phrases) + "."


def build_prompt(collection: str, attributes: Iterable[Attribute]) -> str:
    """A text-to-image prompt: ``"<collection> style PFP, <value> <trait_type>, ..."``."""
    parts = [f"{a['value']} {a['trait_type']}" for a in attributes if not is_absent(a)]
    return ", ".join([f"{collection} style PFP", *parts])


def fit_attributes(collection: str, attributes: list[Attribute]) -> list[Attribute]:
    """The longest leading run of `attributes` whose caption and prompt are both at most `MAX_CAPTION_CHARS`."""
    count = len(attributes)
    while count and max(len(build_caption(collection, attributes[:count])),
                        len(build_prompt(collection, attributes[:count]))) > MAX_CAPTION_CHARS:  # fmt: skip
        count -= 1
    return attributes[:count]
