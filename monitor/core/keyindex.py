"""`KeyIndex`: integer keys to the ids that carry them, cheap when most keys have one id.

Story index keys are ~18 an article and nearly all belong to one article:
a list per key was most of the cost of grouping a feed's batch and of the
buffer of a poll cycle's keys. One id is held bare, several as a tuple.
Pure and single-threaded; used by `core.stories.assign` and
`store.memkeys.MemoryKeys`, whose settled keys are a `SortedKeys`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["KeyIndex", "SortedKeys"]


class KeyIndex:
    """key → ids, in the order they were added."""

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[int, int | tuple[int, ...]] = {}

    def add(self, keys: Iterable[int], id_: int) -> None:
        """`id_` under each of `keys`."""
        by_key = self._by_key
        for key in keys:
            had = by_key.get(key)
            by_key[key] = id_ if had is None else (had, id_) if isinstance(had, int) else (*had, id_)

    def get(self, key: int, default: tuple[int, ...] = ()) -> tuple[int, ...]:
        """The ids under `key` (a `Mapping.get`)."""
        had = self._by_key.get(key)
        if had is None:
            return default
        return (had,) if isinstance(had, int) else had

    def pairs(self, keys: Iterable[int]) -> list[tuple[int, int]]:
        """(key, id) for each id under each of `keys`: one pass, for a feed's
        few hundred keys at once (a `get` per key was a call and a tuple each)."""
        found: list[tuple[int, int]] = []
        by_key = self._by_key
        for key in keys:
            had = by_key.get(key)
            if had is None:
                continue
            if isinstance(had, int):
                found.append((key, had))
            else:
                found.extend((key, id_) for id_ in had)
        return found

    def union(self, keys: Iterable[int]) -> set[int]:
        """Every id under any of `keys`."""
        found: set[int] = set()
        by_key = self._by_key
        for key in keys:
            had = by_key.get(key)
            if had is None:
                continue
            if isinstance(had, int):
                found.add(had)
            else:
                found.update(had)
        return found

    def clear(self) -> None:
        self._by_key = {}


class SortedKeys:
    """key → ids as two parallel arrays sorted by key: 16 bytes a key.

    The settled part of an in-memory story index (`store.memkeys`): a dict
    holds ~110 bytes a key, so the keys of a window of 50,000 articles
    (~900,000) would take ~100 MB as a `KeyIndex` and take 14 MB here.
    Looked up a batch at a time (a feed's few hundred keys: two binary
    searches in numpy); immutable, each change makes a new one.
    """

    __slots__ = ("ids", "keys")

    def __init__(self, keys: np.ndarray | None = None, ids: np.ndarray | None = None) -> None:
        """`keys`, `ids`: int64 arrays, sorted by key."""
        self.keys = keys if keys is not None else np.empty(0, dtype=np.int64)
        self.ids = ids if ids is not None else np.empty(0, dtype=np.int64)

    @classmethod
    def of(cls, keys: Sequence[int] | np.ndarray, ids: Sequence[int] | np.ndarray) -> SortedKeys:
        """The pairs (keys[i], ids[i]), in any order."""
        k = np.asarray(keys, dtype=np.int64)
        i = np.asarray(ids, dtype=np.int64)
        order = np.argsort(k, kind="stable")
        return cls(k[order], i[order])

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.ids.nbytes)

    def merged(self, other: SortedKeys) -> SortedKeys:
        """This and `other` in one (each sorted already: numpy's stable sort
        finds the two runs and merges them in linear time)."""
        if not len(other):
            return self
        if not len(self):
            return other
        keys = np.concatenate((self.keys, other.keys))
        ids = np.concatenate((self.ids, other.ids))
        order = np.argsort(keys, kind="stable")
        return SortedKeys(keys[order], ids[order])

    def without_ids_below(self, lowest: int) -> SortedKeys:
        """The pairs whose id is at least `lowest` (older articles pruned)."""
        kept = self.ids >= lowest
        if kept.all():
            return self
        return SortedKeys(self.keys[kept], self.ids[kept])

    def pairs(self, keys: Iterable[int]) -> list[tuple[int, int]]:
        """(key, id) for each id under each of `keys`, in key order (ids of one
        key in the order they were added)."""
        if not len(self.keys):
            return []
        wanted = np.unique(np.fromiter(keys, dtype=np.int64))
        # One binary search per key (a cache miss a level in 14 MB), then a
        # step right while the next key is the same (a shared key is rare).
        at = np.searchsorted(self.keys, wanted)
        size = len(self.keys)
        found: list[np.ndarray] = []
        while True:
            inside = at < size
            at, wanted = at[inside], wanted[inside]
            same = self.keys[at] == wanted
            if not same.any():
                break
            at, wanted = at[same], wanted[same]
            found.append(at)
            at = at + 1
        if not found:
            return []
        positions = np.sort(np.concatenate(found), kind="stable")
        return list(zip(self.keys[positions].tolist(), self.ids[positions].tolist(), strict=True))
