"""Access to one collection's rows of an exported NFT1000 dataset: attributes for all, images on demand."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from datasets import Dataset, Image, concatenate_datasets, load_dataset

from .images import rgb_pixels


def load_all_splits(path: str, config: str = "full", splits: list[str] | None = None) -> Dataset:
    """Every split of an exported dataset (a local folder or a Hub repo id) as one Dataset."""
    loaded = load_dataset(path, config)
    names = splits or list(loaded)
    return concatenate_datasets([loaded[name] for name in names])


def rows_by_collection(collections: Dataset | Sequence[str]) -> dict[str, list[int]]:
    """Row indices of each collection, in row order, from a dataset's ``collection`` column or the names."""
    names = collections["collection"] if isinstance(collections, Dataset) else collections
    rows: dict[str, list[int]] = defaultdict(list)
    for index, collection in enumerate(names):
        rows[collection].append(index)
    return dict(rows)


class RowImages:
    """Decodes the image of dataset row ``rows[i]`` as an RGB uint8 array (`modeling.images`); picklable for
    worker processes."""

    def __init__(self, dataset: Dataset, rows: list[int]):
        self.images = dataset.select_columns(["image"]).cast_column("image", Image(decode=False))
        self.rows = rows

    def __call__(self, i: int) -> np.ndarray:
        return rgb_pixels(self.images[self.rows[i]]["image"])
