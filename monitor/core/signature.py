"""Story signatures: what the story index knows of one article.

Pure functions over plain values. An article's normalised title and text
(repeated paragraphs once, words as `core.storywords` folds them) become
a set of hashed word 3-gram shingles. Two kinds of index key find
candidates without a scan:

- MinHash band keys (a vectorised affine MinHash, LSH banding): copies
  that share most of their text, whatever the headline and boilerplate;
- lead-sentence keys (the first few full sentences, folded): a copy cut
  down to its summary shares its opening sentences with the full text,
  though its Jaccard similarity to it is tiny.

The keys are stored in the database (with each article on SQLite,
story_keys rows on PostgreSQL), so what they are must not change:
tests/unit/test_story_signature_speedups.py holds a digest of them.
Shingle sets of recently compared texts are remembered (`_ShingleMemo`,
bounded by bytes). A feed's keys all at once are
`core.keybatch`'s (the same keys, faster); grouping articles into stories
by these keys and shingles is `core.stories`'s.
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from monitor.core.identity import unique_paragraphs
from monitor.core.storywords import word_bytes

__all__ = [
    "BANDS",
    "ROWS",
    "StorySignature",
    "band_keys_of",
    "combine_words",
    "forget_shingles",
    "lead_keys",
    "minhash",
    "minhash_rows",
    "mix_grams",
    "permutations",
    "shingles",
    "short_gram",
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


# MinHash permutations by multiply-shift hashing: h(x) = (a·x + b) mod 2**64,
# its top 32 bits kept (a odd) — a universal family, and no division.
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
# Word hashes are combined into 3-gram hashes by h1·M1 + h2·M2 + h3 (mod 2**64).
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)


def _word_hashes(text: str) -> np.ndarray:
    """CRC32 of each word's UTF-8 (the words of `story_words`), in order.

    ASCII text (most news) is split on its bytes and each word hashed as it
    comes: no per-word str, encode or memo. A memo of word hashes (a dict of
    the vocabulary) was tried: fast in a loop over one feed, but between a
    feed's other work its ~1 MB is out of the CPU cache and each lookup is a
    few cache misses — slower than hashing the word again.
    """
    words = word_bytes(text)
    return np.fromiter(map(zlib.crc32, words), dtype=np.uint64, count=len(words))


def _shingle_array(hashed: np.ndarray) -> np.ndarray:
    """Hashed word 3-grams (uint64 < 2**32; CRC32-based: stable across runs)
    of the word hashes in text order, a repeated 3-gram more than once:
    MinHash takes minima and `shingles` builds a set, so neither needs them
    distinct (sorting them out cost as much as the MinHash)."""
    if not len(hashed):
        return np.empty(0, dtype=np.uint64)
    if len(hashed) < SHINGLE_WORDS:
        return mix_grams(short_gram([hashed.sum()]))
    return mix_grams(combine_words(hashed[:-2], hashed[1:-1], hashed[2:]))


def combine_words(first: np.ndarray, second: np.ndarray, third: np.ndarray) -> np.ndarray:
    """The 3-gram hash of three words' hashes (before `mix_grams`)."""
    with np.errstate(over="ignore"):  # wrapping mod 2**64 is the hash
        combined: np.ndarray = first * _M1 + second * _M2 + third
    return combined


def short_gram(sums: list[int]) -> np.ndarray:
    """The one 3-gram hash of a text of one or two words, given the sum of
    their hashes (before `mix_grams`)."""
    with np.errstate(over="ignore"):
        combined: np.ndarray = np.array(sums, dtype=np.uint64) * _M1
    return combined


def mix_grams(combined: np.ndarray) -> np.ndarray:
    """3-gram hashes folded to 32 bits: the shingles."""
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
def permutations() -> tuple[np.ndarray, np.ndarray]:
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
    values: np.ndarray = _products(hashed).min(axis=1) >> _SHIFT
    return values


def minhash_rows(hashed: np.ndarray, firsts: np.ndarray) -> np.ndarray:
    """`minhash` of consecutive runs of `hashed` (each starting at an index
    of `firsts`, ascending), one row of NUM_PERM values per run."""
    values: np.ndarray = np.ascontiguousarray((np.minimum.reduceat(_products(hashed), firsts, axis=1) >> _SHIFT).T)
    return values


def _products(hashed: np.ndarray) -> np.ndarray:
    a, b = permutations()
    with np.errstate(over="ignore"):  # wrapping mod 2**64 is the hash
        products: np.ndarray = a * hashed[np.newaxis, :]
        products += b
    return products


def _band_keys(hashed: np.ndarray) -> list[int]:
    if not len(hashed):
        return []
    return band_keys_of(minhash(hashed).tobytes())


_BAND_PREFIXES = tuple(b"B%d:" % band for band in range(BANDS))
_BAND_WIDTH = ROWS * 8  # a band's ROWS values are ROWS * 8 consecutive bytes


def band_keys_of(raw: bytes, at: int = 0) -> list[int]:
    """The band keys of the MinHash signature whose NUM_PERM uint64 values
    are raw[at : at + NUM_PERM * 8] (one `_key` each, inlined)."""
    blake = hashlib.blake2b
    return [
        int.from_bytes(blake(prefix + raw[start : start + _BAND_WIDTH], digest_size=8).digest(), "big", signed=True)
        for prefix, start in zip(_BAND_PREFIXES, range(at, at + BANDS * _BAND_WIDTH, _BAND_WIDTH), strict=True)
    ]


def lead_keys(text: str, unique: str | None = None) -> list[int]:
    """`unique`: unique_paragraphs(text) when the caller has it (used when
    the whole text is the lead)."""
    keys: list[int] = []
    for sentence in _lead_sentences(text, unique):
        words = word_bytes(sentence)
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
    return tuple(dict.fromkeys([*_band_keys(hashed), *lead_keys(text, body)])), hashed


def story_keys(title: str, text: str) -> tuple[int, ...]:
    """The index keys of one article."""
    return _signature(title, text)[0]


def story_signature(title: str, text: str) -> StorySignature:
    """Index keys and shingles of one article."""
    keys, hashed = _signature(title, text)
    return StorySignature(keys, frozenset(hashed.tolist()))
