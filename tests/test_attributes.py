import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nft1000_dataset.attributes import (
    ALL_TRAITS,
    MAX_JSON_DEPTH,
    MetadataError,
    count_traits,
    is_absent,
    is_numeric,
    json_depth,
    loads_metadata,
    normalize_attributes,
)
from nft1000_dataset.captions import build_caption, caption_phrases

names = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf")), min_size=1, max_size=12).filter(
    lambda s: s.strip()
)  # control and format characters: tests/test_text.py
values = st.one_of(names, st.integers(-(10**30), 10**30), st.booleans())
trait_dicts = st.dictionaries(names, values, min_size=1, max_size=6).filter(
    lambda d: len({" ".join(k.split()) for k in d}) == len(d)
)


@given(trait_dicts)
def test_every_metadata_form_gives_the_same_attributes(traits):
    as_list = {"attributes": [{"trait_type": k, "value": v} for k, v in traits.items()]}
    forms = [
        as_list,
        {"attributes": traits},
        {"traits": as_list["attributes"]},
        {"attributes": json.dumps(as_list["attributes"])},
    ]
    results = [normalize_attributes(form) for form in forms]
    assert all(r == results[0] for r in results)
    assert [a["trait_type"] for a in results[0]] == [" ".join(k.split()) for k in traits]  # whitespace runs: one space
    assert all(isinstance(a["value"], str) for a in results[0])


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(), st.lists, max_leaves=8))
def test_any_json_value_as_attributes_is_normalised_or_rejected_with_a_reason(raw):
    try:
        attributes = normalize_attributes({"attributes": raw})
    except MetadataError as err:
        assert err.reason in {"no attributes", "malformed metadata"}
    else:
        assert attributes and all(a["value"] for a in attributes)


def test_numbers_missing_values_and_display_types():
    attributes = normalize_attributes(
        {
            "attributes": [
                {"trait_type": "Level", "value": 5.0, "display_type": "number"},
                {"trait_type": "Hat", "value": None},
                {"value": "Gold"},
                {"trait_type": "Eyes", "value": "None"},
            ]
        }
    )
    assert attributes == [
        {"trait_type": "Level", "value": "5", "display_type": "number"},
        {"trait_type": "trait", "value": "Gold", "display_type": None},
        {"trait_type": "Eyes", "value": "None", "display_type": None},
    ]
    assert is_numeric(attributes[0]) and not is_numeric(attributes[1])
    assert is_absent(attributes[2]) and not is_absent(attributes[1])


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"name": "x"}, "no attributes"),
        ({"attributes": []}, "no attributes"),
        ({"attributes": [{"trait_type": "a", "value": None}]}, "no attributes"),
        ({"attributes": "{not json"}, "malformed metadata"),
        ({"attributes": 7}, "malformed metadata"),
        ([1, 2], "malformed metadata"),
    ],
)
def test_unusable_metadata_names_its_reason(metadata, reason):
    with pytest.raises(MetadataError) as err:
        normalize_attributes(metadata)
    assert err.value.reason == reason


plain = st.text("abcdefgh XYZ0123", min_size=1, max_size=8).filter(lambda s: s.strip())
plain_traits = st.dictionaries(plain, plain, min_size=1, max_size=6).filter(
    lambda d: len({k.strip() for k in d}) == len(d)
)


@given(plain_traits, st.data())
def test_caption_of_fewer_attributes_has_exactly_their_phrases(traits, data):
    attributes = normalize_attributes({"attributes": traits})
    keep = data.draw(st.lists(st.booleans(), min_size=len(attributes), max_size=len(attributes)))
    kept = [a for a, k in zip(attributes, keep, strict=True) if k]
    caption = build_caption("Coll", kept)
    prefix = "An NFT from Coll with "
    phrases = caption[len(prefix) : -1].split("; ") if caption.startswith(prefix) else []
    assert phrases == [f"{a['trait_type']}: {a['value']}" for a in kept if not is_absent(a)]
    assert phrases == caption_phrases(kept)


def _attr(trait_type: str, value: str) -> dict:
    return {"trait_type": trait_type, "value": value, "display_type": None}


@given(
    st.lists(st.lists(st.sampled_from(["Cap", "Pipe", "Earring", "Mole"]), unique=True), min_size=2, max_size=30),
    st.data(),
)
def test_a_trait_counting_others_is_found_and_an_off_by_one_is_not(accessory_sets, data):
    tokens = [
        [_attr("type", "Ape"), *(_attr("accessory", v) for v in chosen), _attr("background", "None")]
        for chosen in accessory_sets
    ]
    for token, chosen in zip(tokens, accessory_sets, strict=True):
        token.append(_attr("accessory count", str(len(chosen))))
        token.append(_attr("Trait Count", str(2 + len(chosen))))  # every other trait; "None" is no trait
    distinct = len({len(chosen) for chosen in accessory_sets}) >= 2
    expected = {"accessory count": "accessory", "Trait Count": ALL_TRAITS} if distinct else {}
    assert count_traits(tokens) == expected
    wrong = data.draw(st.integers(0, len(tokens) - 1))
    tokens[wrong][-2]["value"] = str(len(accessory_sets[wrong]) + 1)  # one token's count is off: not a count
    assert "accessory count" not in count_traits(tokens)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}\\"ab '),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="[]{}ab", max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _nesting(value) -> int:
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max(map(_nesting, children), default=0)


@given(json_values)
def test_json_depth_counts_nesting_and_not_brackets_in_strings(value):
    assert json_depth(json.dumps(value)) == _nesting(value)


@given(st.integers(MAX_JSON_DEPTH + 1, 5000))
def test_metadata_nested_too_deep_is_refused_before_parsing(depth):
    with pytest.raises(ValueError, match="nested"):
        loads_metadata("[" * depth + "]" * depth)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_metadata_bytes_in_any_json_encoding_load_as_json_loads_them(encoding):
    metadata = {"attributes": [{"trait_type": "Hat", "value": "Béret ✨"}]}
    assert loads_metadata(json.dumps(metadata, ensure_ascii=False).encode(encoding)) == metadata
