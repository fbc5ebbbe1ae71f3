"""The held-out-token protocol's draw: per collection, seeded, independent of row order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.protocols import held_out_rows

collections = st.dictionaries(st.text("abcdef", min_size=1, max_size=4), st.integers(2, 40), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(collections, st.integers(0, 2**16), st.floats(0.05, 0.99), st.randoms(use_true_random=False))
def test_the_held_out_tokens_depend_on_seed_and_tokens_only(sizes, seed, fraction, shuffle):
    rows = [(name, f"{t:05d}") for name, size in sizes.items() for t in range(size)]
    held = held_out_rows([r[0] for r in rows], [r[1] for r in rows], fraction, seed)
    chosen = {rows[i] for i in held}
    for name, size in sizes.items():  # the fraction of each collection, never all of it
        assert sum(1 for r in chosen if r[0] == name) == min(round(fraction * size), size - 1)
    shuffle.shuffle(rows)  # another row order: the same tokens
    again = held_out_rows([r[0] for r in rows], [r[1] for r in rows], fraction, seed)
    assert {rows[i] for i in again} == chosen and np.all(np.diff(again) > 0)


def test_a_count_per_collection_and_too_many_is_an_error():
    names, ids = ["a"] * 10 + ["b"] * 4, [str(i) for i in range(14)]
    held = held_out_rows(names, ids, 3, seed=1)
    assert [names[i] for i in held].count("a") == 3 and [names[i] for i in held].count("b") == 3
    try:
        held_out_rows(names, ids, 4, seed=1)
    except ValueError as err:
        assert "'b'" in str(err) and "none" in str(err)
    else:
        raise AssertionError("holding out every token of a collection must be an error")
