"""Export a raw release as a Hub-ready folder: Parquet shards per config and split, and a dataset card.

    out/README.md                                  dataset card, YAML `configs` (full default, mini)
    out/build_report.json                          read / kept / skipped with reasons, per config and split
    out/collections.json                           per config and collection: its split and shard files
    out/data/<config>/<split>-00000-of-00012.parquet
    out/.nft1000_build/<config>/                   resume state (not uploaded)

Each shard is written to a temporary file and renamed into place, then its tally is recorded; a rerun of an
interrupted export rewrites only the shards that have no record. `load_dataset(out, "mini")` and the same
with ``streaming=True`` then work offline, as they do on the Hub after ``nft1000 push``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from nft1000_io.atomic import atomic_write_text
from nft1000_io.output_folder import claim_output_folder

from .card import card_text, write_card
from .examples import FEATURES, shard_rows
from .plan import BuildOptions, ReleasePlan, Shard, make_plan
from .report import BuildReport, Tally
from .scan import DEFAULT_MIN_TOKENS, scan_release
from .shard_index import shard_entries, write_index

logger = logging.getLogger(__name__)

STATE_DIR = ".nft1000_build"
EXPORT_FILES = (STATE_DIR, "build_report.json")  # what an earlier export holds
ROW_GROUP_SIZE = 100


class ExportError(RuntimeError):
    """The export cannot go on; the message names the path and what to do."""


def write_shard(shard: Shard, data_dir: Path, state_dir: Path, options: BuildOptions) -> Tally:
    """Write one shard atomically, then its tally; returns the tally."""
    tally = Tally()
    target = data_dir / shard.filename
    tmp = data_dir / f".{shard.filename}.tmp"
    schema = FEATURES.arrow_schema
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            batch: list[dict] = []
            for row in shard_rows(shard, options.image_width, str(options.sample_seed), tally):
                batch.append(FEATURES.encode_example(row))
                if len(batch) == ROW_GROUP_SIZE:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
            if batch or tally.kept == 0:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        record = {"split": shard.split, "collection": shard.source.name, "tally": tally.to_dict()}
        atomic_write_text(state_dir / f"{shard.filename}.json", json.dumps(record))
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {err.strerror or err}") from err
    return tally


def _prepare_dirs(plan: ReleasePlan, out_dir: Path, overwrite: bool) -> tuple[Path, Path]:
    data_dir = out_dir / "data" / plan.config
    state_dir = out_dir / STATE_DIR / plan.config
    fingerprint_file = state_dir / "fingerprint"
    fingerprint = plan.fingerprint()
    if fingerprint_file.exists() and fingerprint_file.read_text().strip() != fingerprint:
        if not overwrite:
            raise ExportError(f"{data_dir} holds a build of other data or options; pass --overwrite to replace it")
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(fingerprint_file, fingerprint)
    except OSError as err:
        raise ExportError(f"cannot write to {out_dir}: {err.strerror or err}") from err
    for stale in data_dir.glob(".*.tmp"):
        stale.unlink()
    return data_dir, state_dir


def export_config(plan: ReleasePlan, out_dir: Path, num_proc: int = 1, overwrite: bool = False) -> BuildReport:
    """Write (or finish writing) every shard of one config; returns its full report."""
    data_dir, state_dir = _prepare_dirs(plan, out_dir, overwrite)
    shards = [shard for split_shards in plan.shards.values() for shard in split_shards]
    pending = [
        s for s in shards if not ((state_dir / f"{s.filename}.json").exists() and (data_dir / s.filename).exists())
    ]
    if len(pending) < len(shards):
        logger.info(
            "%s: resuming, %d of %d shards already written", plan.config, len(shards) - len(pending), len(shards)
        )
    progress = tqdm(
        total=sum(len(s.token_ids) for s in pending),
        desc=f"Building {plan.config}",
        unit="pair",
        smoothing=0.1,
        disable=None,
    )
    if num_proc > 1 and len(pending) > 1:
        with ProcessPoolExecutor(min(num_proc, len(pending))) as pool:
            futures = [pool.submit(write_shard, s, data_dir, state_dir, plan.options) for s in pending]
            for future in futures:
                progress.update(future.result().read)
    else:
        for shard in pending:
            progress.update(write_shard(shard, data_dir, state_dir, plan.options).read)
    progress.close()
    report = BuildReport.from_dict(json.loads(plan.report.to_json()))
    for shard in shards:
        record = json.loads((state_dir / f"{shard.filename}.json").read_text(encoding="utf-8"))
        report.add(record["split"], record["collection"], Tally.from_dict(record["tally"]))
    return report


def _split_sizes(plan: ReleasePlan, report: BuildReport, out_dir: Path) -> dict[str, tuple[int, int]]:
    sizes = {}
    for split, shards in plan.shards.items():
        if shards:
            size = sum((out_dir / "data" / plan.config / s.filename).stat().st_size for s in shards)
            sizes[split] = (report.split_total(split).kept, size)
    return sizes


def export_release(
    raw_dir: str | Path,
    out_dir: str | Path,
    configs: dict[str, BuildOptions],
    *,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    num_proc: int = 1,
    overwrite: bool = False,
    name: str = "NFT1000",
) -> dict[str, BuildReport]:
    """Scan the release once, export every config in `configs`, write the card and the build report. `out_dir`
    must be new, empty or an earlier export unless `overwrite`."""
    out_dir = Path(out_dir)
    if not overwrite:
        claim_output_folder(out_dir, EXPORT_FILES, "nft1000 build")
    scans = scan_release(raw_dir, min_tokens, num_proc)
    reports, sizes, index = {}, {}, {}
    for config, options in configs.items():
        plan = make_plan(scans, config, options)
        reports[config] = export_config(plan, out_dir, num_proc, overwrite)
        sizes[config] = _split_sizes(plan, reports[config], out_dir)
        index[config] = shard_entries(config, [shard for shards in plan.shards.values() for shard in shards])
    previous = out_dir / "build_report.json"
    if previous.exists():  # keep the configs built by earlier runs in the card
        for config, data in json.loads(previous.read_text(encoding="utf-8")).items():
            if config not in reports and (out_dir / "data" / config).is_dir():
                reports[config] = BuildReport.from_dict(data["report"])
                sizes[config] = {k: tuple(v) for k, v in data["sizes"].items()}
    summary = {c: {"report": r.to_dict(), "sizes": sizes[c]} for c, r in sorted(reports.items())}
    try:
        atomic_write_text(previous, json.dumps(summary, indent=2, ensure_ascii=False))
        write_index(out_dir, index)
        write_card(out_dir, card_text(name, reports, sizes, FEATURES))
    except OSError as err:
        raise ExportError(f"cannot write to {out_dir}: {err.strerror or err}") from err
    return reports
