"""Masking policies (issue 28): their invariants, and the collator's masks under a policy on a real export."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import CLIPImageProcessor

from modeling.masking.collator import DynamicMaskingCollator
from modeling.masking.masker import DynamicMasker
from modeling.masking.policy import INTACT_SHARE, MaskingPolicy, carried_occurrences, scarcity_scales

probabilities = st.floats(0, 1)


@settings(max_examples=200, deadline=None)
@given(p=probabilities, epochs=st.integers(1, 500), epoch=st.integers(0, 1000), later=st.integers(0, 1000))
def test_decay_starts_at_p_never_rises_and_ends_at_zero(p, epochs, epoch, later):
    policy = MaskingPolicy(p, "decay", num_epochs=epochs)
    assert policy.probability("any", 0) == p
    assert 0 <= policy.probability("any", epoch) <= p
    if later >= epoch:
        assert policy.probability("any", later) <= policy.probability("any", epoch)
    assert policy.probability("any", epochs + later) == 0


keys = st.tuples(st.sampled_from("abc"), st.sampled_from("xyz"))
names = st.sampled_from(["Apes", "Punks", "Owls"])


@settings(max_examples=200, deadline=None)
@given(
    components=st.dictionaries(names, st.sets(keys, max_size=9), max_size=3),
    carried=st.lists(st.tuples(names, st.lists(keys, max_size=6)), min_size=1, max_size=60),
    threshold=st.floats(0.5, 20),
)
def test_scarcity_masks_exactly_the_collections_whose_components_are_carried_by_few_pairs(
    components, carried, threshold
):
    occurrences = carried_occurrences(components, carried)
    assert set(occurrences) == {name for name, _ in carried}
    scales = scarcity_scales(occurrences, threshold)
    for name, count in occurrences.items():
        known = components.get(name, set())
        if not known:  # nothing of it can be masked
            assert count == math.inf and scales[name] == 0.0
            continue
        hits = sum(key in known for other, pair in carried if other == name for key in pair)
        assert count == pytest.approx(hits / len(known))
        assert scales[name] == (1.0 if count < threshold else 0.0)
    doubled = scarcity_scales(carried_occurrences(components, carried + carried), threshold)
    assert all(doubled[name] <= scales[name] for name in scales)  # more pairs never turn masking on


@settings(max_examples=200, deadline=None)
@given(p=probabilities, epochs=st.integers(1, 50), epoch=st.integers(0, 100), masked=st.booleans())
def test_scarcity_is_decay_in_a_scarce_collection_and_zero_elsewhere(p, epochs, epoch, masked):
    scarcity = MaskingPolicy(p, "scarcity", num_epochs=epochs, collection_scale={"Apes": float(masked)})
    decay = MaskingPolicy(p, "decay", num_epochs=epochs)
    assert scarcity.probability("Apes", epoch) == (decay.probability("Apes", epoch) if masked else 0.0)
    assert scarcity.probability("a collection the run did not count", epoch) == 0.0


@given(p=probabilities, epoch=st.integers(0, 10**6))
def test_constant_is_the_paper_s_p(p, epoch):
    assert MaskingPolicy(p).probability("any", epoch) == p


@settings(max_examples=100, deadline=None)
@given(p=probabilities, epoch=st.integers(0, 1000), seed=st.integers(0, 2**32 - 1))
def test_mixed_leaves_about_half_the_rows_intact_and_masks_the_rest_with_p(p, epoch, seed):
    policy = MaskingPolicy(p, "mixed")
    rngs = [np.random.default_rng([seed, row]) for row in range(400)]
    drawn = [policy.probability("any", epoch, rng) for rng in rngs]
    assert set(drawn) <= {0.0, p}
    intact = sum(np.random.default_rng([seed, row]).random() < INTACT_SHARE for row in range(400))
    assert sum(d == 0.0 for d in drawn) == intact or p == 0  # the row's own draw decides, nothing else
    assert 0.4 < intact / 400 < 0.6
    again = [policy.probability("any", epoch, np.random.default_rng([seed, row])) for row in range(400)]
    assert again == drawn


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="one of"):
        MaskingPolicy(0.5, "sometimes")
    for needs_epochs in ("decay", "scarcity"):
        with pytest.raises(ValueError, match="number of epochs"):
            MaskingPolicy(0.5, needs_epochs)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MaskingPolicy(1.5)
    with pytest.raises(ValueError, match="generator"):
        MaskingPolicy(0.5, "mixed").probability("any", 0)


@settings(max_examples=30, deadline=None)
@given(index=st.integers(0, 79), seed=st.integers(0, 2**32 - 1), p=probabilities, q=probabilities)
def test_a_probability_given_per_call_is_a_masker_built_with_it(train_rows, library, index, seed, p, q):
    row = train_rows[index % len(train_rows)]
    image = np.asarray(row["image"].convert("RGB"))
    token = (image, row["collection"], row["attributes"])
    given_q = DynamicMasker(library, mask_prob=p)(*token, np.random.default_rng(seed), q)
    built_q = DynamicMasker(library, mask_prob=q)(*token, np.random.default_rng(seed))
    assert np.array_equal(given_q.image, built_q.image) and given_q.caption == built_q.caption


def _batches(collator, rows, workers: int, context=None) -> list[dict]:
    loader = torch.utils.data.DataLoader(
        rows, batch_size=4, collate_fn=collator, num_workers=workers, multiprocessing_context=context
    )
    return list(loader)


def _same(first: list[dict], second: list[dict]) -> bool:
    return all(torch.equal(a[k], b[k]) for a, b in zip(first, second, strict=True) for k in a)


@pytest.mark.parametrize("policy", ["decay", "scarcity", "mixed"])
def test_a_policy_s_masks_depend_on_seed_epoch_and_row_only(train_rows, library, tokenizer, policy):
    rows = train_rows.select(range(16))
    scales = dict.fromkeys(rows["collection"], 1.0)  # every collection scarce
    collator = DynamicMaskingCollator(
        image_processor=CLIPImageProcessor(), tokenizer=tokenizer, library=library, mask_prob=0.8, seed=5,
        mask_policy=policy, num_epochs=4, collection_scale=scales,
    )  # fmt: skip
    plain = DynamicMaskingCollator(image_processor=CLIPImageProcessor(), tokenizer=tokenizer, mask_prob=0)
    collator.set_epoch(1)
    alone = _batches(collator, rows, 0)
    assert _same(alone, _batches(collator, rows, 2)) and _same(alone, _batches(collator, rows, 2, "spawn"))
    assert not _same(alone, _batches(plain, rows, 0))  # something is masked in epoch 1
    if policy == "mixed":  # some rows of the epoch come out intact, some masked
        one = [rows.select([i]) for i in range(16)]
        intact = [_same(_batches(collator, row, 0), _batches(plain, row, 0)) for row in one]
        assert 0 < sum(intact) < 16
    if policy == "decay":
        collator.set_epoch(4)  # the last planned epoch and after: intact pairs
        assert _same(_batches(collator, rows, 2), _batches(plain, rows, 0))


def test_scarcity_leaves_a_collection_with_plenty_of_pairs_as_the_unmasked_run_sees_it(train_rows, library, tokenizer):
    rows = train_rows.select(range(16))
    keys = {name: library.keys(name) for name in set(rows["collection"])}
    carried = [(row["collection"], [(a["trait_type"], a["value"]) for a in row["attributes"]]) for row in rows]
    plenty = scarcity_scales(carried_occurrences(keys, carried), threshold=0.0)
    collator = DynamicMaskingCollator(
        image_processor=CLIPImageProcessor(), tokenizer=tokenizer, library=library, mask_prob=1.0,
        mask_policy="scarcity", num_epochs=3, collection_scale=plenty,
    )  # fmt: skip
    plain = DynamicMaskingCollator(image_processor=CLIPImageProcessor(), tokenizer=tokenizer, mask_prob=0)
    assert _same(_batches(collator, rows, 0), _batches(plain, rows, 0))
