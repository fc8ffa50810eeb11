"""SQLite's in-memory story index (`store.memkeys`) and its sorted arrays
(`core.keyindex.SortedKeys`): lookups find every article under a key
whether it is new or settled, blobs round-trip, pruning forgets only the
older articles."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.keyindex import SortedKeys
from monitor.store.memkeys import MemoryKeys, keys_blob, keys_of_blob

KEY = st.integers(-(2**63), 2**63 - 1)
BATCHES = st.lists(st.tuples(st.integers(1, 60), st.lists(st.integers(0, 40), max_size=12)), max_size=40)


def model(batches: list[tuple[int, list[int]]], asked: set[int], lowest: int = 0) -> list[tuple[int, int]]:
    """What a lookup must find: every (key, article) added, of the asked keys."""
    return sorted({(k, a) for a, keys in batches if a >= lowest for k in keys if k in asked})


def test_keys_are_found_new_and_settled_and_counted() -> None:
    memory = MemoryKeys(limit=5)
    memory.add(1, [5, 7])
    memory.add(2, [7, 9])
    assert sorted(memory.pairs({5, 7, 8})) == [(5, 1), (7, 1), (7, 2)]
    assert memory.count == 4 and memory.nbytes == 0  # nothing settled yet
    memory.add(3, [7, 100])  # past the limit: settled into the arrays
    assert memory.nbytes == 6 * 16
    assert sorted(memory.pairs([7])) == [(7, 1), (7, 2), (7, 3)]
    memory.add(4, [7])
    assert sorted(memory.pairs([7, 100])) == [(7, 1), (7, 2), (7, 3), (7, 4), (100, 3)]


@given(BATCHES, st.sets(st.integers(0, 50), max_size=30), st.integers(1, 20))
def test_lookups_find_every_article_under_the_asked_keys(
    batches: list[tuple[int, list[int]]], asked: set[int], limit: int
) -> None:
    memory = MemoryKeys(limit=limit)
    for article_id, keys in batches:
        memory.add(article_id, list(dict.fromkeys(keys)))
    assert sorted(set(memory.pairs(asked))) == model(batches, asked)
    memory.settle()
    assert sorted(set(memory.pairs(asked))) == model(batches, asked)


@given(BATCHES, st.sets(st.integers(0, 50), max_size=30), st.integers(0, 61))
def test_dropping_forgets_only_articles_below_the_lowest_id(
    batches: list[tuple[int, list[int]]], asked: set[int], lowest: int
) -> None:
    memory = MemoryKeys(limit=7)
    for article_id, keys in batches:
        memory.add(article_id, keys)
    total = memory.count
    dropped = memory.drop_below(lowest)
    assert set(memory.pairs(asked)) == set(model(batches, asked, lowest))
    assert memory.count == total - dropped == sum(len(keys) for a, keys in batches if a >= lowest)


@given(st.lists(KEY, max_size=30))
def test_blobs_round_trip_every_64_bit_key(keys: list[int]) -> None:
    blob = keys_blob(keys)
    assert len(blob) == 8 * len(keys)
    assert keys_of_blob(blob).tolist() == keys


@given(st.lists(st.tuples(st.integers(1, 30), st.lists(KEY, max_size=10)), max_size=20), st.lists(KEY, max_size=10))
def test_loaded_blobs_are_found_like_added_keys(batches: list[tuple[int, list[int]]], extra: list[int]) -> None:
    loaded, added = MemoryKeys(), MemoryKeys()
    assert loaded.add_blobs((a, keys_blob(keys)) for a, keys in batches) == sum(len(k) for _, k in batches)
    for article_id, keys in batches:
        added.add(article_id, keys)
    asked = {k for _, keys in batches for k in keys} | set(extra)
    assert sorted(loaded.pairs(asked)) == sorted(added.pairs(asked))


def test_sorted_keys_merge_and_find_shared_keys_in_the_order_added() -> None:
    first = SortedKeys.of([5, 3, 5, 9], [1, 2, 3, 4])
    merged = first.merged(SortedKeys.of([5, 2], [8, 9]))
    assert merged.keys.tolist() == [2, 3, 5, 5, 5, 9]
    assert merged.pairs([5, 1, 9]) == [(5, 1), (5, 3), (5, 8), (9, 4)]
    assert merged.without_ids_below(4).pairs([2, 3, 5, 9]) == [(2, 9), (5, 8), (9, 4)]
    assert SortedKeys().pairs([1]) == [] and SortedKeys().merged(first) is first
