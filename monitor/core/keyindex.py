"""`KeyIndex`: integer keys to the ids that carry them, cheap when most keys have one id.

Story index keys are ~18 an article and nearly all belong to one article:
a list per key was most of the cost of grouping a feed's batch and of the
buffer of a poll cycle's keys. One id is held bare, several as a tuple.
Pure and single-threaded; used by `core.stories.assign` and
`store.pending.PendingKeys`.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["KeyIndex"]


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
