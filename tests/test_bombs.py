"""Every bomb is bounded before the work: a release with one of `nft1000_testing.bombs.BOMBS` beside a good
collection builds in at most a few seconds more and under 100 MB more peak memory than the good release alone,
and the bomb is refused, skipped or cut with its count in the report."""

from __future__ import annotations

import json
import shutil

import pytest

from nft1000_testing.bombs import BOMBS, GOOD, GOOD_TOKENS, build_cost, good_release

pytestmark = pytest.mark.slow
EXTRA_SECONDS, EXTRA_BYTES = 5.0, 100 * 2**20


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[float, int]:
    """The good release's build, the fastest and leanest of two (the first warms the file cache)."""
    root = tmp_path_factory.mktemp("good")
    release = good_release(root)
    runs = [build_cost(release, root / f"out{i}") for i in range(2)]
    assert all(result.returncode == 0 for _, _, result in runs), runs[0][2].stdout[-2000:]
    return min(seconds for seconds, _, _ in runs), min(peak for _, peak, _ in runs)


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_bomb_costs_the_build_a_few_seconds_and_under_100_mb(baseline, tmp_path, bomb):
    release = good_release(tmp_path)
    plant, label = BOMBS[bomb]
    plant(release)
    seconds, peak, result = build_cost(release, tmp_path / "out")
    shutil.rmtree(release)  # the bombs are large: free the disk before the next
    assert result.returncode == 0, result.stdout[-2000:]
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())["full"]["report"]
    per = report["splits"]["train"]["per_collection"]
    assert per[GOOD]["kept"] >= GOOD_TOKENS, per[GOOD]
    assert per[GOOD]["read"] == per[GOOD]["kept"] + sum(per[GOOD]["skipped"].values())
    counted = {*report["dropped_collections"], *(label for c in per.values() for label in c["notes"])}
    counted |= {label for c in per.values() for label in c["skipped"]}
    assert label is None or label in counted, counted
    assert seconds - baseline[0] < EXTRA_SECONDS, (bomb, seconds, baseline)
    assert peak - baseline[1] < EXTRA_BYTES, (bomb, peak / 2**20, baseline[1] / 2**20)
