"""The NFT1000 `datasets` builder: the raw release (folders or zips) in, train/validation/test out.

    from nft1000_dataset import NFT1000
    builder = NFT1000(config_name="mini", data_dir="release/")   # a folder of collections or zips
    builder.download_and_prepare(num_proc=2)
    dataset = builder.as_dataset()                              # DatasetDict: train, validation, test
    print(builder.build_report().to_markdown())                # read, kept, skipped with reasons

`datasets` 4 and later no longer run loading scripts, so this class is used directly (as above); ``nft1000 build``
exports the same rows (the same scan, plan and rows: `scan.scan_release`, `plan.config_options`, `plan.make_plan`,
`examples.shard_rows`) as Parquet shards with a dataset card that ``load_dataset`` reads with no code. It never
touches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import datasets

from nft1000_io.atomic import atomic_write_text

from .card import CITATION, DESCRIPTION, HOMEPAGE, LICENSE
from .examples import FEATURES, shard_rows
from .plan import MINI_PAIRS_PER_COLLECTION, BuildOptions, config_options, make_plan
from .report import BuildReport, Tally
from .scan import DEFAULT_MIN_TOKENS, scan_release

REPORTS_DIR = "nft1000_reports"


@dataclass
class NFT1000Config(datasets.BuilderConfig, BuildOptions):
    """A config of the builder: the build options (`plan.BuildOptions`; `pairs_per_collection` is what makes
    ``mini``, paper 6.1: 1,000 per collection) with the official split given as a file, and the token minimum."""

    partition_file: str | None = None
    min_tokens: int = DEFAULT_MIN_TOKENS

    def build_options(self) -> BuildOptions:
        """The options as `nft1000 build` takes them (`plan.config_options`), the partition file read."""
        own = ("partition", "pairs_per_collection")
        shared = {f.name: getattr(self, f.name) for f in fields(BuildOptions) if f.name not in own}
        shared["split_ratios"] = tuple(self.split_ratios)
        options = config_options(self.pairs_per_collection, self.partition_file, **shared)
        return options["mini" if self.pairs_per_collection else "full"]


class NFT1000(datasets.GeneratorBasedBuilder):
    """NFT1000: 1,000 PFP collections of image-text pairs, split by collection."""

    BUILDER_CONFIG_CLASS = NFT1000Config
    BUILDER_CONFIGS: ClassVar[list[NFT1000Config]] = [
        NFT1000Config(name="full", description="Every token of every kept collection."),
        NFT1000Config(
            name="mini",
            pairs_per_collection=MINI_PAIRS_PER_COLLECTION,
            description="NFT1000mini: 1,000 seeded random pairs per collection.",
        ),
    ]
    DEFAULT_CONFIG_NAME = "full"
    DEFAULT_WRITER_BATCH_SIZE = 100

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("dataset_name", "nft1000")
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=DESCRIPTION, citation=CITATION, homepage=HOMEPAGE, license=LICENSE, features=FEATURES
        )

    def _reports_dir(self) -> Path:
        return Path(self._output_dir) / REPORTS_DIR

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        if not self.config.data_dir:
            raise ValueError("NFT1000 needs data_dir: a local folder of collection folders or <name>.zip files")
        scans = scan_release(self.config.data_dir, self.config.min_tokens)
        plan = make_plan(scans, self.config.name, self.config.build_options())
        atomic_write_text(self._reports_dir() / "plan.json", plan.report.to_json())
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"shards": shards})
            for split, shards in plan.shards.items()
            if shards
        ]

    def _generate_examples(self, shards):
        for shard in shards:
            tally = Tally()
            for row in shard_rows(shard, self.config.image_width, str(self.config.sample_seed), tally):
                yield f"{shard.source.name}/{row['token_id']}", row
            record = {"split": shard.split, "collection": shard.source.name, "tally": tally.to_dict()}
            atomic_write_text(self._reports_dir() / f"{shard.split}-{shard.index:05d}.json", json.dumps(record))

    def build_report(self) -> BuildReport:
        """What the last `download_and_prepare` read, kept and skipped, per split and collection."""
        reports = Path(self.cache_dir) / REPORTS_DIR
        report = BuildReport.from_dict(json.loads((reports / "plan.json").read_text(encoding="utf-8")))
        for path in sorted(reports.glob("*-*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            report.add(record["split"], record["collection"], Tally.from_dict(record["tally"]))
        return report
