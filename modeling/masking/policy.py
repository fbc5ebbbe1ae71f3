"""How the masking probability p varies over a run and between collections (issue 28).

- ``constant``: every component of every token with p, every epoch (the paper's 5.2).
- ``decay``: p falls linearly from p in the first epoch to 0 in the last, so that the run ends on intact pairs,
  the distribution it is evaluated on.
- ``scarcity``: ``decay`` in the collections whose components are scarce in the training pairs, each carried by
  fewer than `SCARCITY_THRESHOLD` pairs on average (`carried_occurrences`), and no masking in the others.
  Masking was ahead of p = 0 where each component is carried by about 2-6 pairs and behind from about 6.6
  (BENCHMARKS.md, issue 28), so the policy masks only where it was measured ahead.
- ``mixed``: each row is intact in an epoch with probability 1/2 (`INTACT_SHARE`) and masked with p otherwise, so
  every batch holds intact pairs, the distribution the model is evaluated on, beside masked ones, and each pair
  is seen both ways over the epochs.

A row's probability depends only on (policy, epoch, its collection and, for ``mixed``, a draw of the row's own
generator), never on the worker or batch order, so the masks stay a function of (seed, epoch, row).
``train_clip.py`` defaults to ``scarcity`` with p = 0.3 (`RECOMMENDED_POLICY`, `RECOMMENDED_MASK_PROB`); the
masker and collator keep the paper's constant p = 0.5 as their own defaults.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

POLICIES = ("constant", "decay", "scarcity", "mixed")
INTACT_SHARE = 0.5  # mixed: the share of rows left intact in an epoch
DEFAULT_MASK_PROB = 0.5  # the paper's p; the masker, the collator and the CLI read it here
DEFAULT_POLICY = "constant"
RECOMMENDED_MASK_PROB = 0.3  # train_clip.py's: ahead of 0.5 in every cell measured (BENCHMARKS.md)
RECOMMENDED_POLICY = "scarcity"  # train_clip.py's for a split in memory (a stream gets constant)
SCARCITY_THRESHOLD = 6.0  # carried occurrences per component below which ``scarcity`` masks a collection
EPOCH_POLICIES = ("decay", "scarcity")  # those that need the run's epochs (a stream has none)
MASKING_FILE = "masking.json"  # a run's scarcity decisions (`scarcity_record`), beside its weights


@dataclass(frozen=True)
class MaskingPolicy:
    """The probability of masking each component of a row of `collection` in `epoch`."""

    mask_prob: float = DEFAULT_MASK_PROB
    name: str = DEFAULT_POLICY
    num_epochs: int | None = None  # decay and scarcity: the run's epochs
    collection_scale: Mapping[str, float] = field(default_factory=dict)  # scarcity: 1 masks; 0 or absent, intact

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"masking policy must be one of {POLICIES}, got {self.name!r}")
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in [0, 1], got {self.mask_prob}")
        if self.name in EPOCH_POLICIES and not (self.num_epochs and self.num_epochs > 0):
            raise ValueError(f"the {self.name} policy needs the run's number of epochs (a stream has none)")
        if any(not 0.0 <= scale <= 1.0 for scale in self.collection_scale.values()):
            raise ValueError("scarcity factors lie in [0, 1]")

    def probability(self, collection: str, epoch: int, rng: np.random.Generator | None = None) -> float:
        """p for a row of `collection` in `epoch`; ``mixed`` draws from the row's generator `rng` whether the
        row is intact (0) or masked (p)."""
        if self.name == "mixed":
            if rng is None:
                raise ValueError("the mixed policy draws per row: pass the row's generator")
            return 0.0 if rng.random() < INTACT_SHARE else self.mask_prob
        if self.name in EPOCH_POLICIES:
            decayed = self.mask_prob * max(0.0, 1.0 - epoch / self.num_epochs)
            return decayed * self.collection_scale.get(collection, 0.0) if self.name == "scarcity" else decayed
        return self.mask_prob


def carried_occurrences(
    components: Mapping[str, set[tuple[str, str]]], carried: Iterable[tuple[str, Iterable[tuple[str, str]]]]
) -> dict[str, float]:
    """How many training pairs carry each component of a collection, on average: for each collection met in
    `carried` ((collection, the pair's (trait_type, value) keys) per training pair), the pairs' keys that have a
    component in `components` (the collection's keys in the library), over the number of those components;
    infinite for a collection without components (nothing of it can be masked)."""
    counts: Counter[str] = Counter()
    for name, keys in carried:
        known = components.get(name, set())
        counts[name] += sum(key in known for key in keys)
    return {name: count / len(components[name]) if components.get(name) else math.inf for name, count in counts.items()}


def scarcity_scales(occurrences: Mapping[str, float], threshold: float = SCARCITY_THRESHOLD) -> dict[str, float]:
    """The ``scarcity`` policy's factor of each collection: 1 (masked) where its components are carried by fewer
    than `threshold` training pairs on average, else 0 (intact)."""
    return {name: float(count < threshold) for name, count in occurrences.items()}


def scarcity_record(occurrences: dict[str, float]) -> dict:
    """What ``masking.json`` holds: each training collection's carried occurrences per component (null for
    one without components) and whether the scarcity policy masked it."""
    scales = scarcity_scales(occurrences)
    return {
        "policy": "scarcity",
        "threshold": SCARCITY_THRESHOLD,
        "collections": {
            name: {"carried_occurrences": None if math.isinf(count) else count, "masked": bool(scales[name])}
            for name, count in sorted(occurrences.items())
        },
    }
