"""Project-level splits: whole collections go to train, validation or test, never single tokens.

Tokens of one collection share components and caption phrases, so a token-level split leaks (paper, 4.3).
The official partition file (``training_list``, ``validation_list``, ``test_list``) is used as given; without
one, the collection names are shuffled with a seed and cut 80:5:15.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

from .release import normalize_name

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
PARTITION_KEYS = {"training_list": "train", "validation_list": "validation", "test_list": "test"}
DEFAULT_RATIOS = (80.0, 5.0, 15.0)


class PartitionError(ValueError):
    """A partition file that cannot be used; the message names the file and the problem."""


def read_partition_file(path: str | Path) -> dict[str, list[str]]:
    """Split name -> collection names (NFC), from the official JSON format.

    A name listed twice in the same list is kept once (the real file lists "UninterestedUnicorns" twice in
    training); a name in two different lists is an error.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise PartitionError(f"{path}: cannot read the partition file ({err})") from None
    if not isinstance(raw, dict) or not set(PARTITION_KEYS) <= set(raw):
        raise PartitionError(f"{path}: expected a JSON object with keys {sorted(PARTITION_KEYS)}")
    partition: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for key, split in PARTITION_KEYS.items():
        names = raw[key]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PartitionError(f"{path}: {key} must be a list of collection names")
        kept: list[str] = []
        for name in map(normalize_name, names):
            if owner.get(name) == split:
                logger.warning("%s: %r is listed twice in %s; kept once", path, name, key)
                continue
            if name in owner:
                raise PartitionError(f"{path}: {name!r} is in both {owner[name]} and {split}")
            owner[name] = split
            kept.append(name)
        partition[split] = kept
    return partition


def seeded_partition(
    names: Sequence[str], seed: int = 0, ratios: Sequence[float] = DEFAULT_RATIOS
) -> dict[str, list[str]]:
    """Shuffle the names with `seed` and cut them by `ratios` (train:validation:test).

    With three or more collections every split gets at least one, so no split is empty.
    """
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise ValueError(f"ratios must be three non-negative numbers, got {ratios}")
    ordered = sorted(set(names))
    random.Random(seed).shuffle(ordered)
    total = sum(ratios)
    n = len(ordered)
    n_val = round(n * ratios[1] / total)
    n_test = round(n * ratios[2] / total)
    if n >= 3:
        n_val, n_test = max(n_val, 1 if ratios[1] else 0), max(n_test, 1 if ratios[2] else 0)
        n_val = min(n_val, n - n_test - 1)
    n_train = n - n_val - n_test
    return {
        "train": sorted(ordered[:n_train]),
        "validation": sorted(ordered[n_train : n_train + n_val]),
        "test": sorted(ordered[n_train + n_val :]),
    }


def assign_splits(
    available: Sequence[str],
    partition: dict[str, list[str]] | None,
    *,
    seed: int = 0,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    ignore_missing: bool = False,
) -> tuple[dict[str, list[str]], list[str]]:
    """Which available collections go to which split; returns (splits, collections left out).

    With a partition file, a listed name absent from the data is an error unless `ignore_missing`
    (a partial download); data absent from the file is left out and reported.
    """
    if partition is None:
        return seeded_partition(available, seed, ratios), []
    present = set(available)
    listed = {name for names in partition.values() for name in names}
    missing = sorted(listed - present)
    if missing and not ignore_missing:
        raise PartitionError(
            f"{len(missing)} collection(s) in the partition file are not in the data, e.g. {missing[:5]}; "
            "pass ignore_missing_collections=True (--ignore-missing-collections) for a partial release"
        )
    splits = {split: sorted(n for n in partition.get(split, []) if n in present) for split in SPLITS}
    return splits, sorted(present - listed)
