"""Story signatures: what the story index knows of one article.

Pure functions over plain values. An article's normalised title and text
(folded, repeated paragraphs once) become a set of hashed word 3-gram
shingles. Two kinds of index key find candidates without a scan:

- MinHash band keys (a vectorised affine MinHash, LSH banding): copies
  that share most of their text, whatever the headline and boilerplate;
- lead-sentence keys (the first few full sentences, folded): a copy cut
  down to its summary shares its opening sentences with the full text,
  though its Jaccard similarity to it is tiny.

The keys are stored in the database (story_keys rows), so what they are
must not change: tests/unit/test_story_signature_speedups.py holds a
digest of them. Shingle sets of recently compared texts are remembered
(`_ShingleMemo`, bounded by bytes). Grouping articles into stories by
these keys and shingles is `core.stories`'s.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import regex

from monitor.core.identity import unique_paragraphs

__all__ = [
    "BANDS",
    "ROWS",
    "StorySignature",
    "forget_shingles",
    "shingles",
    "story_keys",
    "story_signature",
]

SHINGLE_WORDS = 3
NUM_PERM = 42
BANDS = 14
ROWS = 3  # a band collides with probability J**3: some band of 14 does with ~60 % at J=0.4, ~99 % at J=0.7
LEAD_SENTENCES = 4
SENTENCE_MIN_WORDS = 8
LEAD_CHARS = 3000
_SEED = 20261126
# A sentence ends at . ! ? or … (kept with it) followed by closing quotes or
# brackets and white space, or at a line break. The pattern starts with one
# set of every character a sentence end starts with and only then tells the
# two kinds apart (looking back at that character), so `re` skips to the
# next candidate character instead of trying both alternatives at every
# position: the same matches as `[.!?…]["'”’»)]*\s+|\n+`, three times faster.
_SENTENCE_END = re.compile(r"[.!?…\n](?:(?<=\n)\n*|(?<=[.!?…])[\"'”’»)]*\s+)")


@dataclass(frozen=True)
class StorySignature:
    """What the story index knows of one article."""

    keys: tuple[int, ...]
    shingles: frozenset[int]


# Words for comparing stories: case-folded, compatibility-decomposed, every
# combining mark dropped, split on anything not a letter or digit. Coarser
# than the matcher's words (core.text), on purpose: one C-level pass over the
# whole text instead of a fold per word, and copies of one story are
# normalised alike whatever their script.
_MARKS = regex.compile(r"\p{M}+")
_TOKEN = re.compile(r"[^\W_]+")
# The same words in ASCII text (where case-folding is lower() and NFKD does
# nothing): a plain character class, which `re` scans faster.
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
# What `_TOKEN` matches in a folded text that came out ASCII (most Latin
# scripts once their accents are gone): exactly \w minus _ there, uppercase
# included (NFKD makes "H" of "ℌ", which case-folding left alone).
_FOLDED_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")
# MinHash permutations by multiply-shift hashing: h(x) = (a·x + b) mod 2**64,
# its top 32 bits kept (a odd) — a universal family, and no division.
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
# Word hashes are combined into 3-gram hashes by h1·M1 + h2·M2 + h3 (mod 2**64).
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)


def story_words(text: str) -> list[str]:
    """The words of `text` as story comparison sees them."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    folded = unicodedata.normalize("NFKD", text.casefold())
    if folded.isascii():
        return _FOLDED_ASCII_TOKEN.findall(folded)
    folded = _MARKS.sub("", folded)
    return (_FOLDED_ASCII_TOKEN if folded.isascii() else _TOKEN).findall(folded)


# The ASCII words again, on the text's bytes: every byte that is not a
# letter or digit becomes a space and capitals become small letters in one
# `translate`, then `split` — four times faster than the pattern, and the
# words come out as the bytes `zlib.crc32` takes.
_ASCII_WORD_BYTES = bytes(c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


# Folded text on its UTF-8 bytes: ASCII letters (capitals too: NFKD makes
# "H" of "ℌ") and digits stay, other ASCII bytes become spaces, and bytes of
# the non-ASCII letters left in (≥ 0x80) stay inside their word.
_FOLDED_WORD_BYTES = bytes(
    c if c >= 128 or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 else 32 for c in range(256)
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# What becomes of a non-ASCII character of folded text: "" (a combining
# mark, dropped), itself (a letter or digit: part of a word) or " " (a
# separator), decided by the very patterns `story_words` uses.
_CHAR_FATES: dict[str, str] = {}
_CHAR_FATES_KEPT = 20_000
# A text with more distinct non-ASCII characters to drop or replace than
# this takes the pattern path (a `replace` pass per character).
_MAX_REPLACED_CHARS = 64


def _fate(char: str) -> str:
    fate = _CHAR_FATES.get(char)
    if fate is None:
        fate = "" if _MARKS.fullmatch(char) else char if _TOKEN.fullmatch(char) else " "
        if len(_CHAR_FATES) < _CHAR_FATES_KEPT:
            _CHAR_FATES[char] = fate
    return fate


def _word_bytes(text: str) -> list[bytes]:
    """The UTF-8 of each word of `story_words(text)`.

    Split on bytes: ASCII text as it is; other text once folded, its few
    distinct non-ASCII characters dropped (marks) or made spaces (curly
    quotes, dashes) by a `replace` each. News in Spanish or with typographic
    quotes took `story_words`' pattern path, three times slower.
    """
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORD_BYTES).split()
    folded = unicodedata.normalize("NFKD", text.casefold())
    replaced = 0
    for char in set(_NON_ASCII.findall(folded)):
        fate = _fate(char)
        if fate != char:
            replaced += 1
            if replaced > _MAX_REPLACED_CHARS:
                return [word.encode() for word in story_words(text)]
            folded = folded.replace(char, fate)
    return folded.encode().translate(_FOLDED_WORD_BYTES).split()


def _word_hashes(text: str) -> np.ndarray:
    """CRC32 of each word's UTF-8 (the words of `story_words`), in order.

    ASCII text (most news) is split on its bytes and each word hashed as it
    comes: no per-word str, encode or memo. A memo of word hashes (a dict of
    the vocabulary) was tried: fast in a loop over one feed, but between a
    feed's other work its ~1 MB is out of the CPU cache and each lookup is a
    few cache misses — slower than hashing the word again.
    """
    words = _word_bytes(text)
    return np.fromiter(map(zlib.crc32, words), dtype=np.uint64, count=len(words))


def _shingle_array(hashed: np.ndarray) -> np.ndarray:
    """Hashed word 3-grams (uint64 < 2**32; CRC32-based: stable across runs)
    of the word hashes in text order, a repeated 3-gram more than once:
    MinHash takes minima and `shingles` builds a set, so neither needs them
    distinct (sorting them out cost as much as the MinHash)."""
    if not len(hashed):
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        if len(hashed) < SHINGLE_WORDS:
            combined = np.array([hashed.sum() * _M1], dtype=np.uint64)
        else:
            combined = hashed[:-2] * _M1 + hashed[1:-1] * _M2 + hashed[2:]
    mixed: np.ndarray = (combined ^ (combined >> _SHIFT)) & _MASK
    return mixed


# Shingle sets of recently compared texts, at most this many bytes of them
# (4 bytes a shingle: ~1.5 kB for a 350-word article, so ~5,000 articles).
SHINGLE_MEMO_BYTES = 8 << 20


class _ShingleMemo:
    """`shingles` remembered for recent texts, keyed by a digest of the text.

    The stored candidates of a story come up again with every copy of it,
    and re-shingling each candidate's text at every lookup was most of a
    copy's cost. This is a memo of a pure function of (title, text): an
    article whose text changes (an update, its page text fetched later) has
    a new digest, so an entry is never stale, whichever process or daemon
    changed the row. Bounded by bytes, least recently used out first; the
    sets are kept as uint32 arrays (a frozenset of 350 ints is ~30 kB).
    Thread-safe: stores run in threads.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: bytes) -> frozenset[int] | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
        return frozenset(found.tolist())

    def put(self, key: bytes, value: frozenset[int]) -> None:
        packed = np.fromiter(value, dtype=np.uint32, count=len(value))
        if packed.nbytes > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = packed
            self._bytes += packed.nbytes
            while self._bytes > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


_MEMO = _ShingleMemo(SHINGLE_MEMO_BYTES)


def forget_shingles() -> None:
    """Empty the memo of recent texts' shingles (benchmarks and tests start cold)."""
    _MEMO.clear()


def _text_digest(title: str, text: str) -> bytes:
    # The title's length first, so no (title, text) pair reads as another.
    data = f"{len(title)}:{title}\n{text}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


def shingles(title: str, text: str) -> frozenset[int]:
    """Hashed word 3-grams of the normalised title and text (remembered for
    recent texts: see `_ShingleMemo`)."""
    key = _text_digest(title, text)
    found = _MEMO.get(key)
    if found is None:
        found = frozenset(_shingle_array(_word_hashes(f"{title}\n{unique_paragraphs(text)}")).tolist())
        _MEMO.put(key, found)
    return found


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(_SEED))
    a = rng.integers(0, 1 << 64, size=NUM_PERM, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 1 << 64, size=NUM_PERM, dtype=np.uint64, endpoint=False)
    return a.reshape(-1, 1), b.reshape(-1, 1)


def minhash(hashed: np.ndarray) -> np.ndarray:
    """The MinHash signature (NUM_PERM values) of a set of 32-bit hashes, vectorised.

    Each value is the top 32 bits of min(a·x + b): the shift is monotone, so
    shifting the minima gives what shifting every product would, for one
    pass over the matrix less.
    """
    a, b = _permutations()
    with np.errstate(over="ignore"):  # wrapping mod 2**64 is the hash
        products = a * hashed[np.newaxis, :]
        products += b
    values: np.ndarray = products.min(axis=1) >> _SHIFT
    return values


def _band_keys(hashed: np.ndarray) -> list[int]:
    if not len(hashed):
        return []
    raw = minhash(hashed).tobytes()  # a band's ROWS values are ROWS * 8 consecutive bytes
    width = ROWS * 8
    return [_key(b"B%d:" % band + raw[band * width : (band + 1) * width]) for band in range(BANDS)]


def _lead_keys(text: str, unique: str | None = None) -> list[int]:
    """`unique`: unique_paragraphs(text) when the caller has it (used when
    the whole text is the lead)."""
    keys: list[int] = []
    for sentence in _lead_sentences(text, unique):
        words = _word_bytes(sentence)
        if len(words) < SENTENCE_MIN_WORDS:
            continue
        keys.append(_key(b"S:" + b" ".join(words)))
        if len(keys) == LEAD_SENTENCES:
            break
    return keys


def _lead_sentences(text: str, unique: str | None = None) -> Iterator[str]:
    """The sentences of the text's lead, in order, found lazily: the caller
    stops at its LEAD_SENTENCES-th, so the rest of the lead is never split.

    The lead is at the start: a long text is not split to its end, and the
    sentence the LEAD_CHARS cut went through is left out.
    """
    short = len(text) <= LEAD_CHARS
    lead = unique if short and unique is not None else unique_paragraphs(text[:LEAD_CHARS])
    start = 0
    for end in _SENTENCE_END.finditer(lead):
        cut = end.start() if lead[end.start()] == "\n" else end.start() + 1  # the mark stays
        yield lead[start:cut]
        start = end.end()
    if short:
        yield lead[start:]


def _key(data: bytes) -> int:
    """A signed 64-bit key (fits a BIGINT column)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _signature(title: str, text: str) -> tuple[tuple[int, ...], np.ndarray]:
    body = unique_paragraphs(text)
    hashed = _shingle_array(_word_hashes(f"{title}\n{body}"))
    return tuple(dict.fromkeys([*_band_keys(hashed), *_lead_keys(text, body)])), hashed


def story_keys(title: str, text: str) -> tuple[int, ...]:
    """The index keys of one article (what a parser worker computes ahead)."""
    return _signature(title, text)[0]


def story_signature(title: str, text: str) -> StorySignature:
    """Index keys and shingles of one article."""
    keys, hashed = _signature(title, text)
    return StorySignature(keys, frozenset(hashed.tolist()))
