"""`MemoryKeys`: an SQLite database's story index, held in memory.

On SQLite (one daemon per database, `store.lockfile`) the story index is
not a table: each article's keys are stored with it (`articles.story_keys`,
a blob of int64s) and the index is rebuilt from those blobs at start
(`StoryIndexStore.index_missing_story_keys`), then kept here. Writing
~18 index rows an article into a table with two B-tree indexes, then
probing it, was a fifth of the storing thread in a cold cycle; a lookup
here is two steps in numpy.

Layout: keys added since the last settle in a `KeyIndex` (a dict, cheap to
add to, ~110 bytes a key), at most `limit` of them; the rest in a
`SortedKeys` (16 bytes a key), into which `settle` merges the new ones.
Memory follows the de-duplication window: ~300 bytes an article of it
(14 MB for the 50,000 articles of a 1,000-feed cold start), pruned by
`drop_below` as the window moves. PostgreSQL keeps its `story_keys` table
(several daemons share it) and has no `MemoryKeys`.

Keys enter only once their article is committed (`EntryStore.feed_transaction`):
a rolled-back feed leaves nothing here. Not thread-safe: the storing
thread owns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from monitor.core.keyindex import KeyIndex, SortedKeys

__all__ = ["MemoryKeys", "keys_blob", "keys_of_blob"]


def keys_blob(keys: Sequence[int]) -> bytes:
    """An article's story keys as stored with it (little-endian int64s)."""
    return np.asarray(keys, dtype="<i8").tobytes()


def keys_of_blob(blob: bytes) -> np.ndarray:
    """The keys of a stored blob (`keys_blob`'s inverse)."""
    return np.frombuffer(blob, dtype="<i8").astype(np.int64)


class MemoryKeys:
    """key → article ids: new keys in a dict, settled ones sorted (see the module)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._settled = SortedKeys()
        self._new = KeyIndex()
        # The new rows again as two flat columns, for `settle` to sort in numpy.
        self._keys: list[int] = []
        self._ids: list[int] = []

    @property
    def count(self) -> int:
        """Keys held, settled and new."""
        return len(self._settled) + len(self._keys)

    @property
    def nbytes(self) -> int:
        """Bytes of the settled arrays (the new ones: ~110 bytes a key more)."""
        return self._settled.nbytes

    def add(self, article_id: int, keys: Sequence[int]) -> None:
        """A committed article's keys."""
        self._new.add(keys, article_id)
        self._keys.extend(keys)
        self._ids.extend([article_id] * len(keys))
        if len(self._keys) >= self.limit:
            self.settle()

    def add_blobs(self, rows: Iterable[tuple[int, bytes]]) -> int:
        """Stored articles' keys ((id, `keys_blob`) rows, e.g. at start), settled at once; how many keys."""
        keys: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        for article_id, blob in rows:
            found = keys_of_blob(blob)
            keys.append(found)
            ids.append(np.full(len(found), article_id, dtype=np.int64))
        if not keys:
            return 0
        batch = SortedKeys.of(np.concatenate(keys), np.concatenate(ids))
        self.settle()
        self._settled = self._settled.merged(batch)
        return len(batch)

    def pairs(self, keys: Iterable[int]) -> list[tuple[int, int]]:
        """(key, article id) for each article under any of `keys`."""
        wanted = keys if isinstance(keys, (set, frozenset, list, tuple)) else list(keys)
        return self._settled.pairs(wanted) + self._new.pairs(wanted)

    def settle(self) -> None:
        """Merge the new keys into the sorted arrays."""
        if not self._keys:
            return
        self._settled = self._settled.merged(SortedKeys.of(self._keys, self._ids))
        self._new.clear()
        self._keys, self._ids = [], []

    def drop_below(self, lowest: int) -> int:
        """Forget the keys of articles whose id is below `lowest` (older than
        the window: ids grow with first_seen_at on one daemon); how many."""
        self.settle()
        before = len(self._settled)
        self._settled = self._settled.without_ids_below(lowest)
        return before - len(self._settled)

    def clear(self) -> None:
        self._settled = SortedKeys()
        self._new.clear()
        self._keys, self._ids = [], []
