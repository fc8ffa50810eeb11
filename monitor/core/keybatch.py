"""Story index keys of many articles at once (a parse worker's feed).

Done one article at a time (`signature.story_keys`), most of the cost is
per call, not per byte: a bytes object and a `zlib.crc32` call for every
word, then a dozen small numpy operations per article. `story_keys_many`
puts a batch of articles' word bytes into one array and does each step once
for all of them: word bounds by comparison, the CRC-32 of every word by
table lookups one byte position at a time for all words together, 3-grams,
and one MinHash reduced per article. The keys are the same, bit for bit
(tests/unit/test_story_keys_many.py holds them to `story_keys`): they are
stored. Pure functions over plain values.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np

from monitor.core.identity import unique_paragraphs
from monitor.core.signature import (
    NUM_PERM,
    SHINGLE_WORDS,
    band_keys_of,
    combine_words,
    lead_keys,
    minhash_rows,
    mix_grams,
    short_gram,
)
from monitor.core.storywords import word_text

__all__ = ["story_keys_many"]

# The CRC-32 of zlib (reflected, polynomial 0xEDB88320), one entry per byte value.
_CRC_POLY = 0xEDB88320


@lru_cache(maxsize=1)
def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> np.uint32(1)) ^ np.uint32(_CRC_POLY), table >> np.uint32(1))
    return table


# Words longer than this are hashed by `zlib.crc32` one by one: the table
# loop runs once per byte position, so one very long "word" (a feed's text
# without spaces) would make it as long as that word.
_TABLE_WORD_MAX = 48
# A batch holds at most this many bytes of word text (a feed of 50 short
# news items is one batch; an article longer than that is a batch of its own,
# as large as computing it alone). The MinHash products of a batch take
# NUM_PERM × 8 bytes a shingle: at most ≈ 11 MB here (32,768 one-letter words).
_BATCH_BYTES = 64 << 10
_SPACE = 32


def _crc32_words(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """zlib.crc32 of each word data[start : start + length], as uint64."""
    out = np.empty(len(starts), dtype=np.uint64)
    long_words = np.flatnonzero(lengths > _TABLE_WORD_MAX)
    if len(long_words):
        raw = data.tobytes()
        for i in long_words.tolist():
            start = int(starts[i])
            out[i] = zlib.crc32(raw[start : start + int(lengths[i])])
    short = np.flatnonzero(lengths <= _TABLE_WORD_MAX)
    if not len(short):
        return out
    order = short[np.argsort(-lengths[short], kind="stable")]  # longest first
    first, size = starts[order], lengths[order]
    # At byte position k the words longer than k are a prefix of `order`.
    active = np.searchsorted(-size, -np.arange(int(size[0])), side="left")
    table = _crc_table()
    crc = np.full(len(order), 0xFFFFFFFF, dtype=np.uint32)
    for k, count in enumerate(active.tolist()):
        part = crc[:count]
        crc[:count] = table[(part ^ data[first[:count] + k]) & np.uint32(0xFF)] ^ (part >> np.uint32(8))
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def _batches(sizes: Sequence[int]) -> Iterator[range]:
    """Consecutive runs of items whose sizes add up to at most _BATCH_BYTES
    (an item bigger than that alone)."""
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > _BATCH_BYTES:
            yield range(start, i)
            start, total = i, 0
        total += size
    if start < len(sizes):
        yield range(start, len(sizes))


def _word_spans(texts: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The words of word texts joined by a space: (the joined bytes, each
    word's start and length in them, the index of its text)."""
    data = np.frombuffer(b" ".join(texts), dtype=np.uint8)
    bounds = np.flatnonzero(np.diff(np.concatenate(([0], (data != _SPACE).view(np.int8), [0]))))
    starts = bounds[0::2]
    offsets = np.cumsum([0, *(len(text) + 1 for text in texts[:-1])])
    return data, starts, bounds[1::2] - starts, np.searchsorted(offsets, starts, side="right") - 1


def _shingles_many(hashed: np.ndarray, owner: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`_shingle_array` of each of `count` texts, given all their word
    hashes in order and each word's text: (the shingles, each one's text),
    in text order."""
    if len(hashed) > 2:
        inside = owner[:-2] == owner[2:]  # 3-grams that do not straddle two texts
        combined = combine_words(hashed[:-2], hashed[1:-1], hashed[2:])[inside]
        owners = owner[:-2][inside]
    else:
        combined, owners = hashed[:0], owner[:0]
    words = np.bincount(owner, minlength=count)
    few = np.flatnonzero((words > 0) & (words < SHINGLE_WORDS))
    if len(few):  # one or two words: one shingle, as `_shingle_array` makes it
        firsts = (np.cumsum(words) - words)[few].tolist()
        sums = [hashed[first : first + int(words[i])].sum() for first, i in zip(firsts, few, strict=True)]
        combined = np.concatenate([combined, short_gram(sums)])
        owners = np.concatenate([owners, few])
        order = np.argsort(owners, kind="stable")
        combined, owners = combined[order], owners[order]
    return mix_grams(combined), owners


def _band_keys_many(texts: Sequence[bytes]) -> list[list[int]]:
    """`_band_keys` of each article, given its word text (`word_text`)."""
    data, starts, lengths, owner = _word_spans(texts)
    grams, owners = _shingles_many(_crc32_words(data, starts, lengths), owner, len(texts))
    keys: list[list[int]] = [[] for _ in texts]
    if not len(grams):
        return keys
    present, firsts = np.unique(owners, return_index=True)
    raw = minhash_rows(grams, firsts).tobytes()
    for row, article in enumerate(present.tolist()):
        keys[article] = band_keys_of(raw, row * NUM_PERM * 8)
    return keys


def story_keys_many(articles: Sequence[tuple[str, str]]) -> list[tuple[int, ...]]:
    """`story_keys` of each (title, text), computed together (see above)."""
    bodies = [unique_paragraphs(text) for _, text in articles]
    texts = [word_text(f"{title}\n{body}") for (title, _), body in zip(articles, bodies, strict=True)]
    bands: list[list[int]] = []
    for batch in _batches([len(text) for text in texts]):
        bands.extend(_band_keys_many(texts[batch.start : batch.stop]))
    return [
        tuple(dict.fromkeys([*band, *lead_keys(text, body)]))
        for band, (_, text), body in zip(bands, articles, bodies, strict=True)
    ]
