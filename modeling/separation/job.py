"""Separating the components of every collection of an exported dataset, one process per collection, each
collection written as soon as it finishes (`modeling.separation.library.LibraryWriter`): a rerun after a crash or a kill
skips the finished ones."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import as_completed
from pathlib import Path

from datasets import Dataset
from tqdm.auto import tqdm

from modeling.images import RowImages
from modeling.separation.library import LibraryWriter
from modeling.separation.separate import SeparationParams, SeparationResult, separate_collection
from modeling.separation.sheets import component_sheet
from nft1000_dataset.exported import rows_by_collection
from nft1000_io.atomic import atomic_write_png
from nft1000_io.workers import process_pool

logger = logging.getLogger(__name__)


def _separate(dataset: Dataset, collection: str, rows: list[int], params: SeparationParams) -> SeparationResult:
    attributes = dataset.select_columns(["attributes"]).select(rows)["attributes"]
    return separate_collection(collection, attributes, RowImages(dataset, rows), params)


def _results(groups: dict[str, list[int]], dataset: Dataset, params, num_proc: int) -> Iterator[SeparationResult]:
    """Each collection's result as it finishes (in any order with several processes)."""
    if num_proc > 1 and len(groups) > 1:
        with process_pool(min(num_proc, len(groups))) as pool:
            futures = [pool.submit(_separate, dataset, c, rows, params) for c, rows in groups.items()]
            for future in as_completed(futures):
                yield future.result()
    else:
        for collection, rows in groups.items():
            yield _separate(dataset, collection, rows, params)


def _log(result: SeparationResult) -> None:
    if result.not_layered:
        logger.info("%s: no components: %s", result.collection, result.not_layered)
        return
    logger.info(
        "%s: %d components from %d tokens (%d images, tolerance %d) in %.1fs; %d attributes without a component",
        result.collection,
        len(result.components),
        result.tokens,
        result.images_used,
        result.tolerance,
        result.seconds,
        len(result.skipped),
    )


def separate_dataset(
    dataset: Dataset,
    params: SeparationParams | None = None,
    num_proc: int = 1,
    *,
    writer: LibraryWriter | None = None,
    sheets: Path | None = None,
) -> list[SeparationResult]:
    """Every collection's components (those `writer` already holds are skipped); each result goes to `writer`
    and, with `sheets`, a component sheet PNG in that folder, as soon as it is done. Returns the results of
    this run, in collection order."""
    params = params or SeparationParams()
    groups = rows_by_collection(dataset)
    done = writer.done() if writer is not None else set()
    todo = {name: rows for name, rows in groups.items() if name not in done}
    if done:
        logger.info("%d of %d collections already separated: resuming", len(groups) - len(todo), len(groups))
    progress = tqdm(
        total=len(groups),
        initial=len(groups) - len(todo),
        desc="Separating components",
        unit="collection",
        disable=None,
    )
    results = []
    for result in _results(todo, dataset, params, num_proc):
        if writer is not None:
            writer.add(result)
        if sheets is not None:
            atomic_write_png(sheets / f"{result.collection}.png", component_sheet(result.components))
        _log(result)
        results.append(result)
        progress.update()
    progress.close()
    order = list(groups)
    return sorted(results, key=lambda r: order.index(r.collection))


def build_library(dataset: Dataset, out: Path, params: SeparationParams, num_proc: int = 1) -> dict:
    """`nft1000 components`: the library of `dataset`'s collections under `out` (``data/components/``, the
    manifest, ``component_sheets/``), resuming one already there; returns the manifest."""
    writer = LibraryWriter(out)
    sheets = out / "component_sheets"
    sheets.mkdir(parents=True, exist_ok=True)
    separate_dataset(dataset, params, num_proc, writer=writer, sheets=sheets)
    writer.finish()
    return writer.report
