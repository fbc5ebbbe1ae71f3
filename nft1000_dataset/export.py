"""Export a raw release as a Hub-ready folder: Parquet shards per config and split, and a dataset card.

    out/README.md                                  dataset card, YAML `configs` (full default, mini)
    out/build_report.json                          read / kept / skipped with reasons, per config and split
    out/collections.json                           per config and collection: its split and shard files
    out/data/<config>/<split>-00000-of-00012.parquet
    out/.nft1000_build/<config>/                   resume state (not uploaded): tallies, shards not yet published

Each shard is written to a temporary file in the resume state and renamed into place there, then its tally is
recorded; a rerun of an interrupted export rewrites only the shards that have no record. Nothing is published
until every shard of every config and the card, report and index are written: then renames (which need no
space) move them into place. So a build that fails, on a full disk say, leaves an earlier export as it was and
loadable, a new folder with nothing but the hidden resume state (which `load_dataset` does not read), and a rerun
resumes. `load_dataset(out, "mini")` and the same with ``streaming=True`` then work offline, as they do on the Hub
after ``nft1000 push``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from nft1000_io.atomic import atomic_write_text
from nft1000_io.output_folder import claim_output_folder
from nft1000_io.workers import process_pool

from .card import card_text, write_card
from .examples import FEATURES, shard_rows
from .plan import BuildOptions, ReleasePlan, Shard, make_plan
from .release import synthetic_origin
from .report import BuildReport, Tally
from .scan import DEFAULT_MIN_TOKENS, scan_release
from .shard_index import INDEX_FILE, shard_entries, write_index

logger = logging.getLogger(__name__)

STATE_DIR = ".nft1000_build"
REPORT_FILE = "build_report.json"
EXPORT_FILES = (STATE_DIR, REPORT_FILE)  # what an earlier export holds
STAGED = "shards"  # under the config's resume state: shards written and not yet published
PENDING = "pending"  # under STATE_DIR: the card, report and index of a build, until it is published
ROW_GROUP_SIZE = 100


class ExportError(RuntimeError):
    """The export cannot go on; the message names the path and what to do."""


def write_shard(shard: Shard, state_dir: Path, options: BuildOptions) -> Tally:
    """Write one shard atomically into the config's staged shards, then its tally; returns the tally."""
    tally = Tally()
    target = state_dir / STAGED / shard.filename
    tmp = target.parent / f".{shard.filename}.tmp"
    schema = FEATURES.arrow_schema
    nbytes = 0  # the rows' size in Arrow, as `datasets` counts a split's num_bytes

    def write(batch: list[dict]) -> None:
        nonlocal nbytes
        table = pa.Table.from_pylist(batch, schema=schema)
        nbytes += table.nbytes
        writer.write_table(table)

    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            batch: list[dict] = []
            for row in shard_rows(shard, options.image_width, str(options.sample_seed), tally):
                batch.append(FEATURES.encode_example(row))
                if len(batch) == ROW_GROUP_SIZE:
                    write(batch)
                    batch = []
            if batch or tally.kept == 0:
                write(batch)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        record = {"split": shard.split, "collection": shard.source.name, "tally": tally.to_dict(), "nbytes": nbytes}
        atomic_write_text(state_dir / f"{shard.filename}.json", json.dumps(record))
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {err.strerror or err}") from err
    return tally


def _prepare_dirs(plan: ReleasePlan, out_dir: Path, overwrite: bool) -> Path:
    """The config's resume folder; the resume state of a build of other data or options is dropped
    with `overwrite` (its published shards stay until the new ones replace them)."""
    data_dir = out_dir / "data" / plan.config
    state_dir = out_dir / STATE_DIR / plan.config
    fingerprint_file = state_dir / "fingerprint"
    fingerprint = plan.fingerprint()
    if fingerprint_file.exists() and fingerprint_file.read_text().strip() != fingerprint:
        if not overwrite:
            raise ExportError(f"{data_dir} holds a build of other data or options; pass --overwrite to replace it")
        shutil.rmtree(state_dir, ignore_errors=True)
    for folder in (data_dir.parent, data_dir):
        if folder.exists() and not folder.is_dir():
            raise ExportError(f"cannot write to {folder}: a file is there, where the shards' folder goes")
    try:
        (state_dir / STAGED).mkdir(parents=True, exist_ok=True)
        atomic_write_text(fingerprint_file, fingerprint)
    except OSError as err:
        raise ExportError(f"cannot write to {out_dir}: {err.strerror or err}") from err
    for stale in (state_dir / STAGED).glob(".*.tmp"):
        stale.unlink()
    return state_dir


def shard_file(out_dir: Path, config: str, filename: str) -> Path:
    """Where a shard of `config` is now: published, or staged in the resume state."""
    published = out_dir / "data" / config / filename
    return published if published.exists() else out_dir / STATE_DIR / config / STAGED / filename


def export_config(plan: ReleasePlan, out_dir: Path, num_proc: int = 1, overwrite: bool = False) -> BuildReport:
    """Write (or finish writing) every shard of one config into its staged shards; returns its full report."""
    state_dir = _prepare_dirs(plan, out_dir, overwrite)
    shards = [shard for split_shards in plan.shards.values() for shard in split_shards]
    pending = [
        s
        for s in shards
        if not ((state_dir / f"{s.filename}.json").exists() and shard_file(out_dir, plan.config, s.filename).exists())
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
        with process_pool(min(num_proc, len(pending))) as pool:
            futures = [pool.submit(write_shard, s, state_dir, plan.options) for s in pending]
            for future in futures:
                progress.update(future.result().read)
    else:
        for shard in pending:
            progress.update(write_shard(shard, state_dir, plan.options).read)
    progress.close()
    report = BuildReport.from_dict(json.loads(plan.report.to_json()))
    for shard in shards:
        record = json.loads((state_dir / f"{shard.filename}.json").read_text(encoding="utf-8"))
        report.add(record["split"], record["collection"], Tally.from_dict(record["tally"]))
    return report


def _split_sizes(plan: ReleasePlan, report: BuildReport, out_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Per split: (rows, Parquet bytes, Arrow bytes), what a card's ``dataset_info`` gives as ``num_examples``,
    ``download_size`` and ``num_bytes``."""
    sizes = {}
    state_dir = out_dir / STATE_DIR / plan.config
    for split, shards in plan.shards.items():
        if shards:
            files = sum(shard_file(out_dir, plan.config, s.filename).stat().st_size for s in shards)
            records = [json.loads((state_dir / f"{s.filename}.json").read_text(encoding="utf-8")) for s in shards]
            arrow = sum(record.get("nbytes", 0) for record in records)  # 0: a record of an older build
            sizes[split] = (report.split_total(split).kept, files, arrow or files)
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
    reports, sizes, index, plans = {}, {}, {}, []
    for config, options in configs.items():
        plan = make_plan(scans, config, options)
        plans.append(plan)
        reports[config] = export_config(plan, out_dir, num_proc, overwrite)
        sizes[config] = _split_sizes(plan, reports[config], out_dir)
        index[config] = shard_entries(config, [shard for shards in plan.shards.values() for shard in shards])
    previous = out_dir / REPORT_FILE
    if previous.exists():  # keep the configs built by earlier runs in the card
        for config, data in json.loads(previous.read_text(encoding="utf-8")).items():
            if config not in reports and (out_dir / "data" / config).is_dir():
                reports[config] = BuildReport.from_dict(data["report"])
                sizes[config] = {k: tuple(v) for k, v in data["sizes"].items()}
    summary = {c: {"report": r.to_dict(), "sizes": sizes[c]} for c, r in sorted(reports.items())}
    pending = out_dir / STATE_DIR / PENDING
    try:
        atomic_write_text(pending / REPORT_FILE, json.dumps(summary, indent=2, ensure_ascii=False))
        write_index(out_dir, index, pending / INDEX_FILE)
        card = card_text(name, reports, sizes, FEATURES, synthetic=synthetic_origin(raw_dir))
        write_card(out_dir, card, pending / "README.md")
    except OSError as err:
        raise ExportError(f"cannot write to {out_dir}: {err.strerror or err}") from err
    try:
        for plan in plans:
            _publish(plan, out_dir)
        for staged in (REPORT_FILE, INDEX_FILE, "README.md"):
            os.replace(pending / staged, out_dir / staged)
    except OSError as err:
        raise ExportError(f"cannot publish the build in {out_dir}: {err.strerror or err}; run it again") from err
    return reports


def _publish(plan: ReleasePlan, out_dir: Path) -> None:
    """Move a written config's staged shards into ``data/<config>/``, replacing an earlier build's folder whole:
    renames only, so a full disk cannot stop it half way."""
    data_dir, state_dir = out_dir / "data" / plan.config, out_dir / STATE_DIR / plan.config
    staged = state_dir / STAGED
    if not any(staged.glob("*.parquet")):
        return  # published by an earlier run
    for shard in (s for split_shards in plan.shards.values() for s in split_shards):
        if (data_dir / shard.filename).exists() and not (staged / shard.filename).exists():
            os.replace(data_dir / shard.filename, staged / shard.filename)  # kept from a run before
    replaced = state_dir / "replaced"
    shutil.rmtree(replaced, ignore_errors=True)
    if data_dir.exists():
        data_dir.rename(replaced)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(data_dir)
    shutil.rmtree(replaced, ignore_errors=True)
