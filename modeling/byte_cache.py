"""A least-recently-used cache bounded in bytes, for what a DataLoader worker keeps between batches.

    cache = ByteLRU(64 * 2**20)
    value = cache.get(key)
    if value is None:
        value = cache.put(key, build(key), nbytes)

Pickling gives an empty cache of the same bound, so a worker process builds its own. The newest entry is kept
even when it alone exceeds the bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class ByteLRU:
    """At most `max_bytes` of values (as each `put` counts them); the least recently used go first."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.held = 0

    def __getstate__(self) -> dict:
        return {"max_bytes": self.max_bytes, "_entries": OrderedDict(), "held": 0}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return default
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> Any:
        """Store `value` as `nbytes`, evict the least recently used beyond the bound; returns `value`."""
        if key in self._entries:
            self.held -= self._entries.pop(key)[1]
        self._entries[key] = (value, nbytes)
        self.held += nbytes
        while self.held > self.max_bytes and len(self._entries) > 1:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.held -= evicted
        return value
