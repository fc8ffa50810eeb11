"""`PendingKeys`: story keys committed but not yet in the index (SQLite).

SQLite's B-tree is cheaper to fill in sorted batches than one feed at a
time (a thousand-feed first poll rewrote scattered index pages a thousand
times), so `store.entries.EntryStore` keeps a poll cycle's new keys here and
writes them sorted; lookups in the meantime see them through `get`. Per
process: PostgreSQL writes keys in each feed's transaction instead, so
other daemons see them at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from monitor.core.keyindex import KeyIndex

__all__ = ["PendingKeys"]


class PendingKeys:
    """Bounded: past `limit` keys the owner flushes, so memory does not grow
    with the size of a cycle (a cold cycle of 50,000 articles brings
    ~900,000 keys)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._index = KeyIndex()
        # The same rows again as two flat columns, for `take` to sort in numpy.
        self._keys: list[int] = []
        self._ids: list[int] = []

    @property
    def count(self) -> int:
        return len(self._keys)

    def add(self, article_id: int, keys: Sequence[int]) -> None:
        self._index.add(keys, article_id)
        self._keys.extend(keys)
        self._ids.extend([article_id] * len(keys))

    def get(self, key: int, default: Sequence[int] = ()) -> Sequence[int]:
        """The articles waiting with `key` (a `Mapping.get` for `story_lookup`)."""
        return self._index.get(key) or default

    def pairs(self, keys: Iterable[int]) -> list[tuple[int, int]]:
        """(key, article id) for the waiting articles under any of `keys`."""
        return self._index.pairs(keys)

    @property
    def full(self) -> bool:
        return self.count >= self.limit

    def take(self) -> list[tuple[int, int]]:
        """Every (key, article id) row, sorted; the buffer is emptied."""
        keys = np.array(self._keys, dtype=np.int64)
        ids = np.array(self._ids, dtype=np.int64)
        order = np.lexsort((ids, keys))
        rows = list(zip(keys[order].tolist(), ids[order].tolist(), strict=True))
        self._index.clear()
        self._keys, self._ids = [], []
        return rows
