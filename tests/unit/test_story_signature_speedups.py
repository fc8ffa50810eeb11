"""The faster story signature computes what the slower one did, and the shingle memo is never stale.

Index keys are stored (story_keys rows): a change to what they are would
make old keys miss new ones. The golden digest below was computed with the
implementation before issue 13's speed work (split-based lead sentences, a
lookbehind sentence pattern, np.unique shingles, one Unicode path for
words); the properties pin each shortcut to the plain form it replaces.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import unicodedata
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import signature, storywords
from monitor.core.identity import unique_paragraphs
from monitor.core.signature import forget_shingles, shingles, story_keys, story_signature
from monitor.core.storywords import story_words
from monitor.models import body_text

CORPUS = Path(__file__).resolve().parents[1] / "data" / "stories" / "corpus.json"
# sha256 over (keys, sorted shingles) of every golden text, before the speed-ups.
GOLDEN = "6edeb2588dffe8fa5939997f0a5d42ee825c02eaa27fa1be0a40115bea27998d"

_ALPHABET = list("abcdefghij ABC xyz 0123 .!?… \"'”’»)\n\n  ,;:-_éÉüßİıﬁ①漢字한국어\u0301\u00a0\u2028\t")


def golden_texts() -> Iterator[tuple[str, str]]:
    """The fixture corpus, then deterministic edge cases: Unicode, marks,
    ligatures, every sentence mark and closing quote, texts either side of
    the lead's length, repeated paragraphs."""
    for item in json.loads(CORPUS.read_text()):
        yield item["title"], body_text(item["summary"], item["content"])
    rng = random.Random(13)
    for _ in range(300):
        length = rng.choice([0, 1, 5, 30, 200, 2990, 3000, 3001, 3500, 8000])
        yield (
            "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 30))),
            "".join(rng.choice(_ALPHABET) for _ in range(length)),
        )
    for _ in range(100):
        words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(0, 600))]
        text = "".join(w + rng.choice([" ", " ", " ", ". ", ".\n", "! ", "\n", '? "', ".” ", "…\n\n"]) for w in words)
        paragraphs = text.split("\n")
        text = "\n".join(paragraphs + paragraphs[: rng.randint(0, 3)])  # doubled paragraphs
        yield " ".join(words[:5]), text


def _digest(pairs: Iterator[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for title, text in pairs:
        signature = story_signature(title, text)
        assert story_keys(title, text) == signature.keys
        assert shingles(title, text) == signature.shingles
        digest.update(repr((signature.keys, sorted(signature.shingles))).encode())
    return digest.hexdigest()


def test_keys_and_shingles_are_those_of_the_implementation_before() -> None:
    forget_shingles()
    assert _digest(golden_texts()) == GOLDEN


# --- each shortcut against the plain form it replaces ------------------------------------

_PLAIN_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+|\n+")


def _plain_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    if not folded.isascii():
        folded = storywords._MARKS.sub("", folded)
    return re.findall(r"[^\W_]+", folded)


def _plain_lead(text: str) -> list[str]:
    sentences = _PLAIN_SENTENCE_END.split(unique_paragraphs(text[: signature.LEAD_CHARS]))
    return sentences[:-1] if len(text) > signature.LEAD_CHARS else sentences


_texts = st.text(alphabet=st.sampled_from(_ALPHABET + list("klmnopqrstuvwxyzKLM.!?\n")), max_size=400)


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_words_of_ascii_text_are_those_of_the_unicode_path(text: str) -> None:
    assert story_words(text) == _plain_words(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_words_of_any_unicode_text_are_those_of_the_plain_path(text: str) -> None:
    """Texts that fold to ASCII take a plain character class: the same words,
    letters NFKD turns into ASCII capitals ("ℌ", "ᴬ") included."""
    assert story_words(text) == _plain_words(text)
    for folds_to_capital in ("ℌilbert ᴬB", "Ⅻ ①ﬁ"):
        assert story_words(folds_to_capital) == _plain_words(folds_to_capital)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_texts, st.text(max_size=80), st.text(st.characters(max_codepoint=127), max_size=80)))
def test_word_hashes_are_crc32_of_each_words_utf8(text: str) -> None:
    """Hashed on the text's bytes when it is ASCII, word by word otherwise:
    either way the CRC32 of each word of `story_words`, in order, and the
    3-grams combine them by the documented formula."""
    words = story_words(text)
    plain = np.array([zlib.crc32(w.encode()) for w in words], dtype=np.uint64)
    assert signature._word_hashes(text).tolist() == plain.tolist()
    if len(words) >= signature.SHINGLE_WORDS:
        with np.errstate(over="ignore"):
            combined = plain[:-2] * signature._M1 + plain[1:-1] * signature._M2 + plain[2:]
        expected = ((combined ^ (combined >> signature._SHIFT)) & signature._MASK).tolist()
        assert signature._shingle_array(signature._word_hashes(text)).tolist() == expected


_MIXED = [*"aeñóÅøßрĀ日本ℌᴬﬁ①Ⅻ’“”–—…·\u0301\u0327\u20dd _-.,\n", "\ud800", "\U0001f600", "\U0001e94b"]


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(alphabet=st.sampled_from(_MIXED), max_size=120), st.text(max_size=120)))
def test_word_bytes_are_the_utf8_of_story_words(text: str) -> None:
    """The byte path drops marks, keeps non-ASCII letters inside their word
    and splits on everything else, as the pattern path does."""
    assert storywords.word_bytes(text) == [word.encode() for word in story_words(text)]


def test_a_text_of_many_distinct_separators_takes_the_pattern_path() -> None:
    separators = "".join(chr(0x2190 + i) for i in range(storywords._MAX_REPLACED_CHARS + 10))  # arrows
    text = "año".join(separators) + "“x”"
    assert storywords.word_bytes(text) == [word.encode() for word in story_words(text)]
    assert storywords.word_bytes(text)[:2] == [b"ano", b"ano"]


def test_latin_text_is_folded_character_by_character_and_other_text_whole() -> None:
    """The quick fold takes text whose non-ASCII characters all fold to
    ASCII without capitals, up to a limit; any other text (a letter of
    another script, a fold to a capital, too many characters) goes the whole
    way. Either way the words are those of `story_words`."""
    accents = [  # À, é, ß …: case-fold and NFKD make them ASCII letters and marks
        char
        for char in map(chr, range(0xC0, 0x250))
        if all(part.isascii() or unicodedata.combining(part) for part in unicodedata.normalize("NFKD", char.casefold()))
    ]
    cases = {
        "García “cita” en Culiacán — ß": True,
        "İstanbul’da Ἀθῆναι": False,  # Greek keeps non-ASCII letters
        "Привет, García": False,  # decided on the first non-ASCII character
        "ℌilbert é": False,  # NFKD makes a capital H
        " ".join(accents[: storywords._MAX_QUICK_CHARS]): True,
        " ".join(accents[: storywords._MAX_QUICK_CHARS + 1]): False,
        "García 漢字 e" + "é" * 40: False,
    }
    for text, quick in cases.items():
        assert (storywords._ascii_folded(text) is not None) == quick, text
        assert storywords.word_bytes(text) == [word.encode() for word in story_words(text)], text


_PLAIN_SENTENCE_END_AT_MARK = re.compile(r"[.!?…][\"'”’»)]*\s+|\n+")


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.sampled_from([*".!?…\"'”’»)\n\n  \t\u00a0\u2028\u3000ab.\r"]), max_size=60),
        _texts,
        st.text(max_size=60),
    )
)
def test_sentence_ends_are_those_of_the_plain_alternation(text: str) -> None:
    """One leading set, then a look back at it: the same matches as the two
    alternatives tried at every position."""
    found = [m.span() for m in signature._SENTENCE_END.finditer(text)]
    assert found == [m.span() for m in _PLAIN_SENTENCE_END_AT_MARK.finditer(text)]


@settings(max_examples=400, deadline=None)
@given(_texts, st.integers(min_value=0, max_value=40))
def test_lead_sentences_are_the_split_ones(text: str, repeat: int) -> None:
    long = text * repeat  # either side of LEAD_CHARS
    for candidate in (text, long):
        assert list(signature._lead_sentences(candidate)) == _plain_lead(candidate)
        assert list(signature._lead_sentences(candidate, unique_paragraphs(candidate))) == _plain_lead(candidate)


def test_minhash_is_the_minimum_of_each_permutation() -> None:
    hashed = np.array(random.Random(1).sample(range(1 << 32), 300), dtype=np.uint64)
    a, b = signature.permutations()
    plain = [
        min(((int(x) * int(ai) + int(bi)) % (1 << 64)) >> 32 for x in hashed)
        for ai, bi in zip(a.ravel(), b.ravel(), strict=True)
    ]
    assert signature.minhash(hashed).tolist() == plain
    # a repeated shingle changes nothing
    assert signature.minhash(np.concatenate([hashed, hashed[:50]])).tolist() == plain


# --- the shingle memo ----------------------------------------------------------------------


def test_a_changed_text_is_shingled_afresh() -> None:
    """An article updated, or given its page text, is compared on its new text
    (the memo is keyed by the text, not by the article)."""
    forget_shingles()
    before = shingles("Title", "The minister resigned on Monday after the vote in parliament.")
    after = shingles("Title", "The minister stayed on Monday after the vote in parliament.")
    assert before != after
    assert shingles("Title", "The minister resigned on Monday after the vote in parliament.") == before
    # the title and text are not run together
    assert signature._text_digest("a\nb", "c") != signature._text_digest("a", "b\nc")


def test_the_memo_is_bounded_by_bytes_and_answers_as_computed() -> None:
    memo = signature._ShingleMemo(budget=40_000)
    rng = random.Random(5)
    kept: dict[bytes, frozenset[int]] = {}
    for n in range(200):
        value = frozenset(rng.randrange(1 << 32) for _ in range(rng.randint(0, 600)))
        key = n.to_bytes(4, "big")
        memo.put(key, value)
        kept[key] = value
        assert memo.nbytes <= 40_000
    assert 0 < len(memo) < 200
    for key, value in kept.items():
        found = memo.get(key)
        assert found is None or found == value
    assert memo.get((199).to_bytes(4, "big")) == kept[(199).to_bytes(4, "big")]  # the newest stays
    memo.put(b"huge", frozenset(range(20_000)))  # larger than the budget: not kept
    assert memo.get(b"huge") is None


def test_the_memo_is_consistent_across_threads() -> None:
    forget_shingles()
    rng = random.Random(3)
    texts = [" ".join(f"w{rng.randrange(3000)}" for _ in range(120)) for _ in range(60)]
    expected = [frozenset(signature._shingle_array(signature._word_hashes(f"t\n{t}")).tolist()) for t in texts]
    failures: list[int] = []

    def work(seed: int) -> None:
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        for i in order * 3:
            if shingles("t", texts[i]) != expected[i]:
                failures.append(i)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
