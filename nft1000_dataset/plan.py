"""From scanned collections to the shards of one config: splits, the mini sample, rows per shard.

The plan is a pure function of the scans and the options, so a rerun of an interrupted build makes the same
shards and can skip the ones already written.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from .media import DEFAULT_IMAGE_WIDTH
from .release import CollectionSource, token_sort_key
from .report import BuildReport, Tally
from .scan import CollectionScan
from .splits import DEFAULT_RATIOS, SPLITS, assign_splits, read_partition_file

MINI_PAIRS_PER_COLLECTION = 1000  # NFT1000mini: the paper's 1,000 pairs per collection
LEFT_OUT = "(no split)"  # pseudo-split for collections in no split (dropped, or absent from the partition file)
DEFAULT_ROWS_PER_SHARD = 1000


@dataclass
class BuildOptions:
    """Everything besides the raw data that decides what a config contains (the one list of these fields: the
    `datasets` config `builder.NFT1000Config` inherits them)."""

    pairs_per_collection: int | None = None  # None: every token (full); 1000 for mini
    partition: dict[str, list[str]] | None = None
    split_seed: int = 0
    sample_seed: int = 0
    split_ratios: Sequence[float] = DEFAULT_RATIOS
    ignore_missing_collections: bool = False
    image_width: int = DEFAULT_IMAGE_WIDTH
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD


def config_options(
    mini_pairs: int | None = MINI_PAIRS_PER_COLLECTION, partition_file: str | None = None, **shared
) -> dict[str, BuildOptions]:
    """The build options of ``full`` and ``mini`` (`mini_pairs` a collection), the official split read from
    `partition_file` when given, and the other `BuildOptions` fields (`shared`) the same for both: what
    `nft1000 build` exports, and what the `datasets` builder's configs of the same names build."""
    partition = read_partition_file(partition_file) if partition_file else None
    return {
        name: BuildOptions(pairs_per_collection=pairs, partition=partition, **shared)
        for name, pairs in (("full", None), ("mini", mini_pairs))
    }


@dataclass(frozen=True)
class Shard:
    """One output file's worth of tokens, all from one collection."""

    split: str
    index: int
    total: int
    source: CollectionSource
    token_ids: tuple[str, ...]

    @property
    def filename(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.total:05d}.parquet"


@dataclass
class ReleasePlan:
    config: str
    options: BuildOptions
    shards: dict[str, list[Shard]] = field(default_factory=dict)
    report: BuildReport | None = None  # tallies known before any image is read

    def fingerprint(self) -> str:
        """Changes whenever the data or options would give different shards."""
        payload = {
            "config": self.config,
            "width": self.options.image_width,
            "shards": [[s.split, s.source.name, list(s.token_ids)] for ss in self.shards.values() for s in ss],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _sample(scan: CollectionScan, options: BuildOptions, tally: Tally) -> list[str]:
    ids = scan.usable
    k = options.pairs_per_collection
    if k is None or len(ids) <= k:
        return ids
    tally.skip("not in mini sample", n=len(ids) - k)
    chosen = random.Random(f"{options.sample_seed}:{scan.name}").sample(ids, k)
    return sorted(chosen, key=token_sort_key)


def make_plan(scans: list[CollectionScan], config: str, options: BuildOptions) -> ReleasePlan:
    """Assign collections to splits, sample (mini), and cut each collection into shards."""
    by_name = {scan.name: scan for scan in scans}
    kept = [scan.name for scan in scans if not scan.dropped]
    available = list(by_name) if options.partition is not None else kept
    splits, left_out = assign_splits(
        available,
        options.partition,
        seed=options.split_seed,
        ratios=options.split_ratios,
        ignore_missing=options.ignore_missing_collections,
    )
    report = BuildReport(config=config, dropped={s.name: s.dropped for s in scans if s.dropped})
    in_split = {name for names in splits.values() for name in names}
    for name in by_name:
        if name not in in_split:
            tally = Tally()
            tally.merge(by_name[name].tally)
            if name in left_out:
                tally.skip("collection not in the partition file", n=len(by_name[name].usable))
            report.add(LEFT_OUT, name, tally)
    plan = ReleasePlan(config=config, options=options, report=report)
    for split in SPLITS:
        chunks: list[tuple[CollectionSource, tuple[str, ...]]] = []
        for name in splits[split]:
            scan = by_name[name]
            tally = Tally()
            tally.merge(scan.tally)
            ids = _sample(scan, options, tally)
            report.add(split, name, tally)
            step = options.rows_per_shard
            chunks += [(scan.source, tuple(ids[i : i + step])) for i in range(0, len(ids), step)]
        plan.shards[split] = [Shard(split, i, len(chunks), source, ids) for i, (source, ids) in enumerate(chunks)]
    return plan
