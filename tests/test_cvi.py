"""CVI: the exact moment-based computation against equation (1) with N x N matrices, its invariants, the
`evaluate` module and bad input."""

from pathlib import Path

import evaluate
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evaluation.cvi import compute_cvi, cvi_by_definition

METRIC = str(Path(__file__).resolve().parents[1] / "evaluation" / "cvi")
finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)


def pairs(min_n: int = 2, max_n: int = 12):
    return st.integers(min_n, max_n).flatmap(
        lambda n: st.integers(1, 5).flatmap(
            lambda d: st.tuples(
                arrays(np.float64, (n, d), elements=finite), arrays(np.float64, (n, d), elements=finite)
            )
        )
    )


def test_hand_computed_cases():
    # orthonormal pairs: each row of every matrix is one 1 and one 0, variance 1/4
    assert compute_cvi([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]) == pytest.approx(
        {"cvi": 0.25, "image_image": 0.25, "text_text": 0.25, "text_image": 0.25}
    )
    # texts all equal to the first image: S_TT rows [1 1 1] (variance 0); S_TI rows [1 0 0] (variance 2/9)
    images = np.eye(3)
    texts = np.tile(images[0], (3, 1))
    result = compute_cvi(images, texts, alpha=0.5)
    assert result["image_image"] == pytest.approx(2 / 9)
    assert result["text_text"] == pytest.approx(0.0)
    assert result["text_image"] == pytest.approx(2 / 9)
    assert result["cvi"] == pytest.approx((0.5 * 2 / 9 + 0.5 * 0 + 2 / 9) / 2)
    # without the diagonal the rows of S_II are [0 0]: variance 0
    assert compute_cvi(images, texts, include_diagonal=False)["image_image"] == pytest.approx(0.0)


def test_identical_embeddings_give_zero():
    vector = np.random.default_rng(0).normal(size=(1, 16))
    same = np.repeat(vector, 50, axis=0)
    assert compute_cvi(same, same)["cvi"] == pytest.approx(0.0, abs=1e-12)
    assert compute_cvi(same, same, similarity="softmax")["cvi"] == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=pairs(), alpha=st.floats(0, 1), include_diagonal=st.booleans(), chunk=st.integers(1, 7))
def test_fast_path_equals_the_n_by_n_definition(data, alpha, include_diagonal, chunk):
    images, texts = data
    images, texts = images + 1e-3, texts - 1e-3  # no all-zero rows (normalisation)
    options = {"alpha": alpha, "include_diagonal": include_diagonal, "chunk_size": chunk}
    fast, reference = compute_cvi(images, texts, **options), cvi_by_definition(images, texts, **options)
    for key in reference:
        assert fast[key] == pytest.approx(reference[key], abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(data=pairs(max_n=9), include_diagonal=st.booleans(), temperature=st.floats(1, 100), chunk=st.integers(8, 40))
def test_softmax_option_equals_its_definition(data, include_diagonal, temperature, chunk):
    images, texts = data
    images, texts = images + 1e-3, texts - 1e-3
    options = {"similarity": "softmax", "include_diagonal": include_diagonal, "temperature": temperature}
    fast = compute_cvi(images, texts, chunk_size=chunk, **options)
    reference = cvi_by_definition(images, texts, **options)
    for key in reference:
        assert fast[key] == pytest.approx(reference[key], abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(data=pairs(), seed=st.integers(0, 2**32 - 1))
def test_permuting_the_pairs_does_not_change_cvi(data, seed):
    images, texts = data
    images, texts = images + 1e-3, texts - 1e-3
    order = np.random.default_rng(seed).permutation(len(images))
    for include_diagonal in (True, False):
        before = compute_cvi(images, texts, include_diagonal=include_diagonal)
        after = compute_cvi(images[order], texts[order], include_diagonal=include_diagonal)
        assert after == pytest.approx(before, abs=1e-9)


def test_evaluate_module_add_batch_over_chunks_equals_one_compute():
    rng = np.random.default_rng(1)
    images, texts = rng.normal(size=(103, 12)).astype(np.float32), rng.normal(size=(103, 12)).astype(np.float32)
    metric = evaluate.load(METRIC)
    whole = metric.compute(image_embeds=images, text_embeds=texts, alpha=0.3)
    for start in range(0, 103, 25):
        metric.add_batch(image_embeds=images[start : start + 25], text_embeds=texts[start : start + 25])
    assert metric.compute(alpha=0.3) == pytest.approx(whole, rel=1e-9)
    assert whole == pytest.approx(compute_cvi(images, texts, alpha=0.3), rel=1e-9)


@pytest.mark.parametrize(
    ("images", "texts", "message"),
    [
        (np.ones((3, 4)), np.ones((2, 4)), "pairs of one shape"),
        (np.ones(4), np.ones(4), "N x d"),
        (np.zeros((0, 4)), np.zeros((0, 4)), "at least 2 pairs"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones((2, 2)), "NaN"),
    ],
)
def test_bad_input_is_a_clear_error(images, texts, message):
    with pytest.raises(ValueError, match=message):
        compute_cvi(images, texts)


def test_bad_options_and_bad_input_through_evaluate():
    with pytest.raises(ValueError, match="alpha"):
        compute_cvi(np.eye(2), np.eye(2), alpha=1.5)
    with pytest.raises(ValueError, match="similarity"):
        compute_cvi(np.eye(2), np.eye(2), similarity="dot")
    metric = evaluate.load(METRIC)
    with pytest.raises(ValueError):
        metric.compute(image_embeds=[[1.0, 0.0], [0.0, 1.0]], text_embeds=[[1.0, 0.0]])
    with pytest.raises(ValueError, match="different lengths"):
        metric.compute(image_embeds=[[1.0, 0.0], [0.0]], text_embeds=[[1.0, 0.0], [0.0, 1.0]])


SPACE_FILES = ("cvi.py", "cvi_index.py", "README.md", "app.py", "requirements.txt", "tests.py")
STANDALONE = """
import builtins, json, sys
real_import = builtins.__import__
def guarded(name, globals=None, locals=None, fromlist=(), level=0):  # the project's packages do not exist here
    if level == 0 and name.split(".")[0] in {"nft1000", "nft1000_dataset", "modeling", "evaluation", "search"}:
        raise ModuleNotFoundError(name)
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = guarded
import evaluate, numpy as np
folder, data = sys.argv[1], json.loads(sys.stdin.read())
metric = evaluate.load(folder)
sys.path.insert(0, folder)
import tests, app
cases = []
for case in tests.test_cases:
    case = dict(case)
    expected = case.pop("result")
    cases.append((metric.compute(**case), expected))
app.build_demo(metric)  # the Space's page builds with this gradio
print(json.dumps({"values": metric.compute(**data), "cases": cases}))
"""


def test_the_metric_folder_works_alone_copied_anywhere(tmp_path):
    import json
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "cvi"
    folder.mkdir()
    for name in SPACE_FILES:  # what a Hub Space of the metric holds
        shutil.copy(Path(METRIC) / name, folder / name)
    assert (folder / "requirements.txt").read_text().split() == ["evaluate>=0.4.5", "numpy>=1.26"]
    rng = np.random.default_rng(0)
    images, texts = rng.standard_normal((40, 6)), rng.standard_normal((40, 6))
    data = {"image_embeds": images.tolist(), "text_embeds": texts.tolist(), "alpha": 0.6}
    result = subprocess.run(
        [sys.executable, "-c", STANDALONE, str(folder)], input=json.dumps(data), capture_output=True, text=True,
        cwd=tmp_path, check=True,
    )  # fmt: skip
    out = json.loads(result.stdout.strip().splitlines()[-1])
    expected = compute_cvi(images.astype(np.float32), texts.astype(np.float32), alpha=0.6)
    assert out["values"] == pytest.approx(expected, rel=1e-6)
    assert all(got == pytest.approx(wanted) for got, wanted in out["cases"])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_a_rank_correlation_is_given_over_3_or_more_collections_and_its_absence_explained(n):
    from evaluation.cvi_report import cvi_markdown, rank_correlation

    row = {"rows": 10, "image_image": 0.1, "text_text": 0.1, "text_image": 0.1}
    per = {
        f"C{i}": {**row, "cvi": 0.1 * (i + 1), "top1": 10.0 * i, "top5": 20.0 + i, "top10": 30.0 + i} for i in range(n)
    }
    report = {"alpha": 0.5, "per_collection": per, "whole_split": {**row, "cvi": 0.2, "top1": 1, "top5": 2, "top10": 3},
              "skipped_collections": []}  # fmt: skip
    correlation = rank_correlation(report)
    markdown = cvi_markdown(report, correlation=correlation)
    if n >= 3:
        assert correlation == pytest.approx({"top1": 1.0, "top5": 1.0, "top10": 1.0}) and "Spearman" in markdown
    else:
        assert correlation == {} and f"{n} collections, and a rank correlation needs at least 3" in markdown
