"""The SQLite story-key buffer: lookups see waiting keys, it is bounded, and
it hands back every row sorted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.store.entries import PendingKeys


def test_waiting_keys_are_found_per_key_shared_or_not() -> None:
    pending = PendingKeys(limit=10)
    pending.add(1, [5, 7])
    pending.add(2, [7, 9])
    assert pending.get(5) == (1,) and tuple(pending.get(7)) == (1, 2) and pending.get(8) == ()
    assert pending.count == 4 and not pending.full
    pending.add(3, list(range(100, 106)))
    assert pending.full


@given(st.lists(st.tuples(st.integers(1, 50), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20)), max_size=40))
def test_take_returns_every_row_sorted_and_empties(batches: list[tuple[int, list[int]]]) -> None:
    pending = PendingKeys()
    expected = []
    for article_id, keys in batches:
        pending.add(article_id, keys)
        expected.extend((key, article_id) for key in keys)
    assert pending.take() == sorted(expected)
    assert pending.count == 0 and pending.take() == []


@given(
    st.lists(st.tuples(st.integers(1, 30), st.lists(st.integers(0, 40), max_size=12)), max_size=30),
    st.sets(st.integers(0, 50), max_size=30),
)
def test_pairs_are_every_waiting_article_under_the_asked_keys(
    batches: list[tuple[int, list[int]]], asked: set[int]
) -> None:
    """One pass over a feed's keys finds what a `get` per key does, the
    articles of a shared key in the order they came."""
    pending = PendingKeys()
    for article_id, keys in batches:
        pending.add(article_id, list(dict.fromkeys(keys)))
    expected = [(key, article_id) for key in asked for article_id in pending.get(key)]
    assert pending.pairs(asked) == expected
    for key in asked:
        assert [a for k, a in pending.pairs([key])] == [a for a, keys in batches if key in keys]
