"""Separating the components of every collection of an exported dataset, one process per collection."""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor

from datasets import Dataset
from tqdm.auto import tqdm

from .collection_rows import RowImages, rows_by_collection
from .separation import SeparationParams, SeparationResult, separate_collection

logger = logging.getLogger(__name__)


def _separate(dataset: Dataset, collection: str, rows: list[int], params: SeparationParams) -> SeparationResult:
    attributes = dataset.select_columns(["attributes"]).select(rows)["attributes"]
    return separate_collection(collection, attributes, RowImages(dataset, rows), params)


def separate_dataset(
    dataset: Dataset, params: SeparationParams | None = None, num_proc: int = 1
) -> list[SeparationResult]:
    """Every collection's components, in collection order; memory per process stays at ``params.max_images``."""
    params = params or SeparationParams()
    groups = rows_by_collection(dataset)
    progress = tqdm(total=len(groups), desc="Separating components", unit="collection")
    results: list[SeparationResult] = []
    if num_proc > 1 and len(groups) > 1:
        with ProcessPoolExecutor(min(num_proc, len(groups))) as pool:
            futures = [pool.submit(_separate, dataset, c, rows, params) for c, rows in groups.items()]
            for future in futures:
                results.append(future.result())
                progress.update()
    else:
        for collection, rows in groups.items():
            results.append(_separate(dataset, collection, rows, params))
            progress.update()
    progress.close()
    for result in results:
        logger.info(
            "%s: %d components from %d tokens (%d images) in %.1fs; %d attributes without a component",
            result.collection,
            len(result.components),
            result.tokens,
            result.images_used,
            result.seconds,
            len(result.skipped),
        )
    return results
