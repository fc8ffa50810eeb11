"""`core.keybatch.story_keys_many`: a feed's keys computed together are
`story_keys` of each article, bit for bit (they are stored and compared with
keys computed one at a time, by other versions and other daemons)."""

from __future__ import annotations

import random
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import keybatch
from monitor.core.keybatch import story_keys_many
from monitor.core.signature import story_keys

_MIXED = [*"aeñóÅøßрĀ日本ℌᴬﬁ①Ⅻİ’“”–—…·\u0301\u0327 _-.,!?\n", "\U0001f600"]
_WORDS = st.text(alphabet=st.sampled_from([*"abcdefghñé"]), min_size=1, max_size=70)
_TEXTS = st.one_of(
    st.text(alphabet=st.sampled_from(_MIXED), max_size=300),
    st.text(max_size=120),
    # sentences of words, some longer than the table loop takes
    st.lists(_WORDS, max_size=60).map(lambda words: " ".join(words) + ". " + ".\n".join(words[:9])),
)
_ARTICLES = st.lists(st.tuples(st.text(alphabet=st.sampled_from(_MIXED), max_size=40), _TEXTS), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_ARTICLES)
def test_keys_together_are_the_keys_of_each_article(articles: list[tuple[str, str]]) -> None:
    assert story_keys_many(articles) == [story_keys(title, text) for title, text in articles]


def test_articles_without_words_or_with_one_or_two_get_their_own_keys() -> None:
    articles = [("", ""), ("", "!!"), ("Word", ""), ("two", "words"), ("", "three words here"), ("x", "..."), ("", "")]
    keys = story_keys_many(articles)
    assert keys == [story_keys(title, text) for title, text in articles]
    assert keys[0] == () and keys[2] and keys[3] != keys[4]


def test_batches_split_by_size_give_the_same_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    words = ["cartel", "sinaloa", "acuerdo", "seguridad", "García", "Culiacán", "frontera", "“citó”"]
    articles = [
        (f"Title {i}", " ".join(rng.choice(words) for _ in range(rng.randint(0, 400))) + ".") for i in range(30)
    ]
    expected = [story_keys(title, text) for title, text in articles]
    assert story_keys_many(articles) == expected
    monkeypatch.setattr(keybatch, "_BATCH_BYTES", 1500)  # several batches, and articles bigger than one
    assert len(list(keybatch._batches([len(t) for _, t in articles]))) > 5
    assert story_keys_many(articles) == expected


def test_batches_are_consecutive_bounded_and_cover_every_item() -> None:
    sizes = [10, 10, 10, 300, 5, 5, 0, 400, 1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keybatch, "_BATCH_BYTES", 100)
        runs = list(keybatch._batches(sizes))
    assert [i for run in runs for i in run] == list(range(len(sizes)))
    for run in runs:
        assert len(run) == 1 or sum(sizes[i] for i in run) <= 100


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=120).map(lambda b: b.replace(b" ", b"x")), max_size=40))
def test_word_crcs_are_zlibs(words: list[bytes]) -> None:
    """The table loop (words up to _TABLE_WORD_MAX bytes) and zlib (longer
    ones) give zlib.crc32 of every word, in order."""
    data = np.frombuffer(b" ".join(words), dtype=np.uint8)
    starts = np.cumsum([0, *(len(w) + 1 for w in words[:-1])]).astype(np.intp)
    lengths = np.array([len(w) for w in words], dtype=np.intp)
    found = keybatch._crc32_words(data, starts[: len(words)], lengths)
    assert found.tolist() == [zlib.crc32(w) for w in words]
