"""The design of a synthetic collection: its name, drawing style, trait values with rarity weights, and the
tokens (unique combinations of values) drawn from it; the easy, real-like and non-layered kinds."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..attributes import Attribute
from .art import COLOURS, LAYER_KINDS, SHAPES, SKINS, Style, draw_layer, pick_style
from .real import PATTERN, VALUE_COUNTS, VARIANTS, pattern_seeds, trait_palette

NAME_WORDS = (
    "Pixel",
    "Neon",
    "Lazy",
    "Cosmic",
    "Bored",
    "Tiny",
    "Mutant",
    "Glitch",
    "Happy",
    "Cyber",
    "Moon",
    "Punk",
)
NAME_NOUNS = ("Apes", "Cats", "Punks", "Frogs", "Bots", "Ghosts", "Bears", "Owls", "Kongs", "Toadz")
ABSTRACT_TYPES = {
    "background": "Realm",
    "body": "Essence",
    "clothing": "Vessel",
    "eyes": "Gaze",
    "mouth": "Utterance",
    "headwear": "Halo",
    "accessory": "Relic",
}
ABSTRACT_WORDS = (
    "Serendipity",
    "Nocturne",
    "Ephemera",
    "Reverie",
    "Solace",
    "Vesper",
    "Halcyon",
    "Lumen",
    "Umbra",
    "Zephyr",
    "Aether",
    "Elegy",
    "Quietus",
    "Sonder",
    "Petrichor",
    "Liminal",
)
ZIP_TIMESTAMP = (2024, 3, 4, 12, 0, 0)  # fixed, so zips are byte-identical for a seed
OPTIONAL_KINDS = ("mouth", "headwear", "accessory")  # these traits have a weighted "None" value
NONE_VALUE = "None"
STYLES = ("easy", "real-like")
REAL_LIKE_NONE_SHARE = {"headwear": 0.3, "accessory": 0.5}  # tokens without the trait, as in real collections
# the attributes of a non-layered collection (values per trait type): they describe nothing visible
NON_LAYERED_TRAITS = {"palette": 16, "mood": 12, "era": 8, "aura": 6}
NON_LAYERED_KINDS = ("noise", "gradient")


@dataclass(frozen=True)
class TraitValue:
    trait_type: str
    kind: str
    value: str
    shape: str
    colour: tuple[int, int, int]
    weight: float


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    seed: int
    style: Style
    traits: dict[str, list[TraitValue]]  # kind -> values
    none_weights: dict[str, float]
    abstract: bool
    numeric_traits: tuple[str, ...]
    metadata_form: str  # "list", "dict" or "traits"
    id_base: int
    id_step: int
    variant: str = "clean"  # what happens to every image after compositing (`real.VARIANTS`)
    scale: float = 1.0  # the LANCZOS factor of the resampled and jpeg variants
    layered: str = ""  # "" for a layered collection, else how its images are made (`NON_LAYERED_KINDS`)


def make_spec(index: int, seed: int, n_tokens: int) -> CollectionSpec:
    """The design of collection number `index`: name, style, trait values with rarity weights.

    Trait values are added until there are at least twice as many combinations as tokens.
    """
    rng = random.Random(f"nft1000-synth:{seed}:{index}")
    name = f"{NAME_WORDS[index % len(NAME_WORDS)]} {NAME_NOUNS[(index * 7 + seed) % len(NAME_NOUNS)]} {index}"
    style = pick_style(rng, index)
    abstract = index % 5 == 3
    abstract_words = list(ABSTRACT_WORDS)
    rng.shuffle(abstract_words)
    none_weights = {kind: rng.choice((0.0, 0.5, 1.0)) for kind in OPTIONAL_KINDS}
    candidates: dict[str, list[tuple[str, str]]] = {}
    counts: dict[str, int] = {}
    for kind in LAYER_KINDS:
        palette = SKINS if kind == "body" else COLOURS
        candidates[kind] = [(shape, colour) for shape in SHAPES[kind] for colour in palette]
        rng.shuffle(candidates[kind])
        counts[kind] = rng.randint(3, 6) if kind == "background" else rng.randint(3, 5)

    def combinations() -> int:
        total = 1
        for kind, count in counts.items():
            total *= count + (1 if none_weights.get(kind, 0) > 0 else 0)
        return total

    while combinations() < 2 * n_tokens:
        growable = [k for k in LAYER_KINDS if counts[k] < len(candidates[k])]
        counts[min(growable, key=lambda k: counts[k])] += 1
    traits: dict[str, list[TraitValue]] = {}
    for kind in LAYER_KINDS:
        palette = SKINS if kind == "body" else COLOURS
        trait_type = ABSTRACT_TYPES[kind] if abstract else kind.capitalize()
        values = []
        for k, (shape, colour) in enumerate(candidates[kind][: counts[kind]]):
            label = f"{abstract_words[k % len(abstract_words)]} {k + 1}" if abstract else f"{colour} {shape}"
            weight = rng.choice((1.0, 1.0, 2.0, 3.0, 0.5))
            values.append(TraitValue(trait_type, kind, label, shape, palette[colour], weight))
        traits[kind] = values
    numeric = ("Generation", "Luck") if index % 3 == 1 else ()
    big_ids = index % 4 == 2
    return CollectionSpec(
        name=name,
        seed=rng.randrange(2**31),
        style=style,
        traits=traits,
        none_weights=none_weights,
        abstract=abstract,
        numeric_traits=numeric,
        metadata_form=("list", "list", "dict", "traits")[index % 4],
        id_base=2**255 + 12345 if big_ids else rng.choice((0, 1)),
        id_step=7919 if big_ids else 1,
    )


def _weights(count: int, rng: random.Random) -> list[float]:
    """Rarity weights spread log-normally: a few common values, many rare ones, as in real collections."""
    return [rng.lognormvariate(0, 0.6) for _ in range(count)]


def make_real_like_spec(index: int, seed: int, variant: str = "clean") -> CollectionSpec:
    """A real-like collection (module docstring): `VALUE_COUNTS` values per trait type, each with a shape of its
    own and a colour from `real.trait_palette` (near colours included), weights spread log-normally."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    rng = random.Random(f"nft1000-synth-real:{seed}:{index}")
    name = f"Real {NAME_WORDS[index % len(NAME_WORDS)]} {NAME_NOUNS[(index * 7 + seed) % len(NAME_NOUNS)]} {index}"
    style = pick_style(rng, index)
    traits: dict[str, list[TraitValue]] = {}
    for kind in LAYER_KINDS:
        palette = trait_palette(kind, VALUE_COUNTS[kind], rng)

        def render(pattern: int, colour: tuple[int, int, int], kind: str = kind) -> bytes:
            return draw_layer(style, kind, f"{PATTERN}{pattern}", colour).tobytes()

        patterns = pattern_seeds([entry.colour for entry in palette], rng, render)
        traits[kind] = [
            TraitValue(kind.capitalize(), kind, entry.name, f"{PATTERN}{pattern}", entry.colour, weight)
            for entry, pattern, weight in zip(palette, patterns, _weights(len(palette), rng), strict=True)
        ]
    none_weights = {kind: share / (1 - share) * len(traits[kind]) for kind, share in REAL_LIKE_NONE_SHARE.items()}
    return CollectionSpec(
        name=name,
        seed=rng.randrange(2**31),
        style=style,
        traits=traits,
        none_weights=none_weights,
        abstract=False,
        numeric_traits=("Generation",) if index % 3 == 1 else (),
        metadata_form="list",
        id_base=rng.choice((0, 1)),
        id_step=1,
        variant=variant,
        scale=rng.uniform(0.78, 0.93),
    )


def make_non_layered_spec(index: int, seed: int) -> CollectionSpec:
    """A collection whose images are not layers (`real.non_layered_image`) and whose attributes, drawn at
    random, describe nothing visible: what separation must recognise and leave alone."""
    rng = random.Random(f"nft1000-synth-flat:{seed}:{index}")
    traits = {
        kind: [
            TraitValue(kind.capitalize(), kind, f"{kind.capitalize()} {n + 1}", "none", (0, 0, 0), 1.0)
            for n in range(count)
        ]
        for kind, count in NON_LAYERED_TRAITS.items()
    }
    return CollectionSpec(
        name=f"Generative {NAME_NOUNS[index % len(NAME_NOUNS)]} {index}",
        seed=rng.randrange(2**31),
        style=Style("smooth", (512, 512)),
        traits=traits,
        none_weights={},
        abstract=False,
        numeric_traits=(),
        metadata_form="list",
        id_base=0,
        id_step=1,
        layered=NON_LAYERED_KINDS[index % len(NON_LAYERED_KINDS)],
    )


def combination_count(spec: CollectionSpec) -> int:
    total = 1
    for kind, values in spec.traits.items():
        total *= len(values) + (1 if spec.none_weights.get(kind, 0) > 0 else 0)
    return total


def sample_tokens(spec: CollectionSpec, n_tokens: int) -> list[dict[str, TraitValue | None]]:
    """`n_tokens` distinct trait combinations drawn with the rarity weights."""
    if n_tokens > combination_count(spec):
        raise ValueError(f"{spec.name}: {n_tokens} tokens asked, only {combination_count(spec)} combinations")
    rng = random.Random(spec.seed)
    seen: set[tuple[str, ...]] = set()
    tokens = []
    while len(tokens) < n_tokens:
        token: dict[str, TraitValue | None] = {}
        for kind, values in spec.traits.items():
            options: list[TraitValue | None] = list(values)
            weights = [v.weight for v in values]
            if spec.none_weights.get(kind, 0) > 0:
                options.append(None)
                weights.append(spec.none_weights[kind] * sum(weights) / len(weights))
            token[kind] = rng.choices(options, weights)[0]
        key = tuple(v.value if v else NONE_VALUE for v in token.values())
        if key not in seen:
            seen.add(key)
            tokens.append(token)
    return tokens


def token_attributes(spec: CollectionSpec, token: dict[str, TraitValue | None], number: int) -> list[Attribute]:
    attributes = []
    for kind, values in spec.traits.items():
        chosen = token[kind]
        attributes.append(
            Attribute(trait_type=values[0].trait_type, value=chosen.value if chosen else NONE_VALUE, display_type=None)
        )
    rng = random.Random(f"{spec.seed}:{number}")
    for trait in spec.numeric_traits:
        attributes.append(Attribute(trait_type=trait, value=str(rng.randint(1, 99)), display_type="number"))
    return attributes
