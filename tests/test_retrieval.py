"""Exact chunked top-k retrieval against a brute-force count, and the report built from it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evaluation.embeddings import SplitEmbeddings
from evaluation.report import RetrievalReport, per_collection_markdown, whole_split_markdown
from evaluation.retrieval import naive_hits, recall_at_k, retrieval_hits


def brute_force(queries, gallery, groups, k):
    """Hit when fewer than k gallery items score strictly above the target (paired / best of the group)."""
    scores = queries.astype(np.float64) @ gallery.astype(np.float64).T
    paired, exact = [], []
    for i, row in enumerate(scores):
        paired.append((row > row[i]).sum() < k)
        exact.append((row > row[groups == groups[i]].max()).sum() < k)
    return np.array(paired), np.array(exact)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 30),
    d=st.integers(1, 6),
    query_chunk=st.integers(1, 9),
    gallery_chunk=st.integers(1, 9),
)
def test_chunked_hits_equal_brute_force_including_ties(data, n, d, query_chunk, gallery_chunk):
    # small integers make ties common, and are exact in float32
    queries = data.draw(arrays(np.float32, (n, d), elements=st.integers(-3, 3)))
    gallery = data.draw(arrays(np.float32, (n, d), elements=st.integers(-3, 3)))
    groups = data.draw(arrays(np.int64, n, elements=st.integers(0, 4)))
    hits = retrieval_hits(queries, gallery, groups, ks=(1, 5, 10), query_chunk=query_chunk, gallery_chunk=gallery_chunk)
    for k in (1, 5, 10):
        paired, exact = brute_force(queries, gallery, groups, k)
        assert np.array_equal(hits["paired"][k], paired)
        assert np.array_equal(hits["attribute_exact"][k], exact)


def test_chunked_equals_the_full_matrix_on_random_embeddings():
    rng = np.random.default_rng(0)
    queries, gallery = rng.normal(size=(500, 32)), rng.normal(size=(500, 32))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    gallery = 0.5 * queries + gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    groups = rng.integers(0, 300, size=500)
    chunked = retrieval_hits(queries, gallery, groups, query_chunk=64, gallery_chunk=100)
    naive = naive_hits(queries, gallery, groups)
    for target in ("paired", "attribute_exact"):
        for k in (1, 5, 10):
            assert np.array_equal(chunked[target][k], naive[target][k])
    scores = recall_at_k(chunked)
    assert 0 < scores["paired"]["top1"] <= scores["paired"]["top5"] <= scores["paired"]["top10"] < 100
    assert all(scores["attribute_exact"][k] >= scores["paired"][k] for k in scores["paired"])


@pytest.mark.parametrize(
    ("queries", "gallery", "message"),
    [
        (np.zeros((3, 4)), np.zeros((2, 4)), "same shape"),
        (np.zeros((3,)), np.zeros((3,)), "N x d"),
        (np.zeros((0, 4)), np.zeros((0, 4)), "no embeddings"),
    ],
)
def test_bad_shapes_are_clear_errors(queries, gallery, message):
    with pytest.raises(ValueError, match=message):
        retrieval_hits(queries, gallery)


def test_report_ranks_within_each_collection_and_over_the_whole_split():
    rng = np.random.default_rng(1)
    # two collections whose images are near-copies of each other's: whole-split retrieval confuses them,
    # within-collection retrieval does not
    base = rng.normal(size=(20, 16)).astype(np.float32)
    images = np.concatenate([base, base + 1e-3 * rng.normal(size=base.shape).astype(np.float32)])
    texts = images[np.r_[20:40, 0:20]] + 1e-4
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    embeddings = SplitEmbeddings(images, texts, ["A"] * 20 + ["B"] * 20, np.arange(40))
    report = RetrievalReport.from_embeddings(embeddings)
    assert report["rows"] == 40 and report["collections"] == 2
    assert report["whole_split"]["text_to_image"]["paired"]["top1"] < 10
    assert report["per_collection"]["A"]["rows"] == 20
    assert report["per_collection"]["A"]["text_to_image"]["paired"]["top1"] == 100.0
    table = per_collection_markdown(report)
    assert table.count("\n") == 3 and "| A | 20 |" in table
    assert "attribute-exact" in whole_split_markdown({"m": report})
