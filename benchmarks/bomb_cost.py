"""What each bomb of `nft1000_testing.bombs` costs `nft1000 build`: the build of a small good release with the
bomb beside it, against the same release without it (the baseline, built twice, its faster and leaner run kept),
in the same run. Wall seconds and the build process's own peak resident memory.

    python benchmarks/bomb_cost.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import testing_path  # noqa: F401  (nft1000_testing)

from nft1000_testing.bombs import BOMBS, build_cost, good_release


def _what_it_left(out: Path) -> str:
    """The drops, skips and notes of the build's report."""
    report = json.loads((out / "build_report.json").read_text())["full"]["report"]
    counted = [f"{name} dropped" for name in report["dropped_collections"]]
    for tally in report["splits"]["train"]["per_collection"].values():
        counted += [f"{label}: {n}" for label, n in {**tally["skipped"], **tally["notes"]}.items()]
    return "; ".join(counted) or "nothing (kept whole)"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        release = good_release(root / "good")
        runs = [build_cost(release, root / f"good-out{i}") for i in range(2)]
        seconds, peak = min(r[0] for r in runs), min(r[1] for r in runs)
        print(f"baseline: a release of 12 good tokens, {seconds:.2f} s, peak {peak / 2**20:.0f} MB\n")
        print("| bomb | file bytes | seconds added | MB added | what the report counts |")
        print("| --- | ---: | ---: | ---: | --- |")
        for index, (name, (plant, _)) in enumerate(BOMBS.items()):
            case = root / f"bomb{index}"
            release = good_release(case)
            before = sum(p.stat().st_size for p in release.rglob("*") if p.is_file())
            plant(release)
            size = sum(p.stat().st_size for p in release.rglob("*") if p.is_file()) - before
            cost = build_cost(release, case / "out")
            if cost[2].returncode:
                print(f"| {name} | {size:,} | build failed | | {cost[2].stdout.strip().splitlines()[-1]} |")
                continue
            print(f"| {name} | {size:,} | {cost[0] - seconds:+.2f} | {(cost[1] - peak) / 2**20:+.0f} | "
                  f"{_what_it_left(case / 'out')} |")  # fmt: skip


if __name__ == "__main__":
    main()
