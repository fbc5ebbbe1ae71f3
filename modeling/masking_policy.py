"""How the masking probability p varies over a run and between collections (issue 28).

- ``constant``: every component of every token with p, every epoch (the paper's 5.2).
- ``decay``: p falls linearly from p in the first epoch to 0 in the last, so that the run ends on intact pairs,
  the distribution it is evaluated on.
- ``scarcity``: p scaled per collection by how scarce its pairs are for its components,
  ``p * min(1, components / training pairs)``: full p where a collection has fewer training pairs than
  separated components (most values seen in a pair or two), falling towards 0 as pairs grow plentiful.
- ``mixed``: each row is intact in an epoch with probability 1/2 (`INTACT_SHARE`) and masked with p otherwise, so
  every batch holds intact pairs, the distribution the model is evaluated on, beside masked ones, and each pair
  is seen both ways over the epochs.

A row's probability depends only on (policy, epoch, its collection and, for ``mixed``, a draw of the row's own
generator), never on the worker or batch order, so the masks stay a function of (seed, epoch, row).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

POLICIES = ("constant", "decay", "scarcity", "mixed")
INTACT_SHARE = 0.5  # mixed: the share of rows left intact in an epoch
DEFAULT_MASK_PROB = 0.5  # the paper's p; the masker, the collator, train_clip.py and the CLI read it here
DEFAULT_POLICY = "constant"


@dataclass(frozen=True)
class MaskingPolicy:
    """The probability of masking each component of a row of `collection` in `epoch`."""

    mask_prob: float = DEFAULT_MASK_PROB
    name: str = DEFAULT_POLICY
    num_epochs: int | None = None  # decay: the run's epochs
    collection_scale: Mapping[str, float] = field(default_factory=dict)  # scarcity: p's factor per collection

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"masking policy must be one of {POLICIES}, got {self.name!r}")
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in [0, 1], got {self.mask_prob}")
        if self.name == "decay" and not (self.num_epochs and self.num_epochs > 0):
            raise ValueError("the decay policy needs the run's number of epochs (a stream has none: use constant)")
        if any(not 0.0 <= scale <= 1.0 for scale in self.collection_scale.values()):
            raise ValueError("scarcity factors lie in [0, 1]")

    def probability(self, collection: str, epoch: int, rng: np.random.Generator | None = None) -> float:
        """p for a row of `collection` in `epoch`; ``mixed`` draws from the row's generator `rng` whether the
        row is intact (0) or masked (p)."""
        if self.name == "mixed":
            if rng is None:
                raise ValueError("the mixed policy draws per row: pass the row's generator")
            return 0.0 if rng.random() < INTACT_SHARE else self.mask_prob
        if self.name == "decay":
            return self.mask_prob * max(0.0, 1.0 - epoch / self.num_epochs)
        if self.name == "scarcity":
            return self.mask_prob * self.collection_scale.get(collection, 1.0)
        return self.mask_prob


def scarcity_scales(components: Mapping[str, int], training_collections: Iterable[str]) -> dict[str, float]:
    """``min(1, components / training pairs)`` of each collection met in `training_collections` (one name per
    training pair); a collection without components gets 0 (nothing of it can be masked)."""
    pairs = Counter(training_collections)
    return {name: min(1.0, components.get(name, 0) / count) for name, count in pairs.items()}
