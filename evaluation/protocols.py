"""The two evaluation protocols and the token-level hold-out behind the second.

*Unseen collections* (the paper's): the test split's collections were never trained on. *Held-out tokens of the
training collections*: a seeded draw of tokens from each training collection is kept out of training and
evaluated on; their trait combinations were never seen, their traits were. The draw depends only on the seed
and each collection's name and token ids, so `train_clip.py`, `nft1000 eval` and the ablation hold out the same
tokens.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

from nft1000_dataset.exported import rows_by_collection

if TYPE_CHECKING:
    from datasets import Dataset

UNSEEN_COLLECTIONS = "unseen collections"
HELD_OUT_TOKENS = "held-out tokens of the training collections"
HELD_OUT_VALIDATION = "validation slice of the held-out tokens"  # picks the step (early stopping), never reported


def held_out_rows(collections: list[str], token_ids: list[str], per_collection: float, seed: int) -> np.ndarray:
    """Sorted row indices held out: `per_collection` tokens of each collection (a fraction of it when < 1, never
    all of it), drawn with `seed` from the collection's rows in token-id order; a count that leaves a collection
    nothing to train on is a ValueError."""
    if per_collection <= 0:
        return np.zeros(0, dtype=np.int64)
    held = []
    for name, indices in rows_by_collection(collections).items():
        ordered = sorted(indices, key=lambda i: token_ids[i])
        if per_collection < 1:  # a fraction leaves at least one token to train on
            count = min(round(per_collection * len(ordered)), len(ordered) - 1)
        else:
            count = int(per_collection)
        if count >= len(ordered):
            raise ValueError(f"holding out {count} tokens of {name!r} leaves none of its {len(ordered)} to train on")
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        held += [ordered[i] for i in rng.choice(len(ordered), size=count, replace=False)]
    return np.sort(np.asarray(held, dtype=np.int64))


def hold_out_tokens(dataset: Dataset, per_collection: float, seed: int) -> tuple[Dataset, Dataset]:
    """(kept, held_out) rows of `dataset` (`held_out_rows`; needs `collection` and `token_id` columns)."""
    missing = {"collection", "token_id"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"the held-out-token protocol needs the columns {sorted(missing)}, which the dataset lacks")
    held = held_out_rows(dataset["collection"], dataset["token_id"], per_collection, seed)
    kept = np.setdiff1d(np.arange(len(dataset)), held)
    return dataset.select(kept), dataset.select(held)
