"""Near-duplicate detection: which articles tell the same story.

Pure functions over plain values. An article's normalised title and text
(folded, repeated paragraphs once) become a set of hashed word 3-gram
shingles. Two kinds of index key find candidates without a scan:

- MinHash band keys (datasketch's MinHash, LSH banding here): copies that
  share most of their text, whatever the headline and boilerplate;
- lead-sentence keys (the first few full sentences, folded): a copy cut
  down to its summary shares its opening sentences with the full text,
  though its Jaccard similarity to it is tiny.

Candidates are then verified exactly: the overlap coefficient of the two
shingle sets (shared / smaller set), so a summary contained in the full
article scores high while two articles sharing a few phrases — the same
cartel, the same minister — score low. README "Stories" gives the
measurements behind the method and the default threshold.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from monitor.core.identity import unique_paragraphs
from monitor.core.text import words as folded_words

__all__ = [
    "BANDS",
    "ROWS",
    "Assignment",
    "Candidate",
    "StoryLookup",
    "StoryMatch",
    "StoryPolicy",
    "StorySignature",
    "assign",
    "best_match",
    "shingles",
    "should_escalate",
    "similarity",
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
# At most this many stored candidates are verified per new article, most keys shared first.
MAX_CANDIDATES = 12
# Under this many shingles the overlap coefficient says little: use Jaccard.
MIN_OVERLAP_SHINGLES = 12
_SEED = 20261126
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+|\n+")


@dataclass(frozen=True)
class StorySignature:
    """What the story index knows of one article."""

    keys: tuple[int, ...]
    shingles: frozenset[int]


@dataclass(frozen=True)
class Candidate:
    """A stored (or earlier in the batch) article that shares index keys."""

    ref: int  # an article id, or a negative number for one not stored yet
    story: int  # a story id, or a negative number for a story not stored yet
    shingles: frozenset[int]


@dataclass(frozen=True)
class StoryMatch:
    story: int
    ref: int
    score: float


def _words(title: str, text: str) -> list[str]:
    return folded_words(f"{title}\n{unique_paragraphs(text)}")


def shingles(title: str, text: str) -> frozenset[int]:
    """Hashed word 3-grams of the normalised title and text (CRC32: stable across runs)."""
    words = _words(title, text)
    if len(words) < SHINGLE_WORDS:
        return frozenset({zlib.crc32(" ".join(words).encode())}) if words else frozenset()
    return frozenset(
        zlib.crc32(" ".join(words[i : i + SHINGLE_WORDS]).encode())
        for i in range(len(words) - SHINGLE_WORDS + 1)
    )


@lru_cache(maxsize=1)
def _minhash_class() -> type:
    # Imported on first use: datasketch loads scipy (about a second), which
    # commands that never store an article should not pay for.
    from datasketch import MinHash

    return MinHash


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    template = _minhash_class()(num_perm=NUM_PERM, seed=_SEED, scheme="affine32")
    return template.permutations  # type: ignore[no-any-return]


def _identity(value: int) -> int:
    return value


def _band_keys(hashed: frozenset[int]) -> list[int]:
    if not hashed:
        return []
    minhash = _minhash_class()(
        num_perm=NUM_PERM, seed=_SEED, hashfunc=_identity, permutations=_permutations(), scheme="affine32"
    )
    minhash.update_batch(sorted(hashed))
    values = np.asarray(minhash.hashvalues, dtype=np.uint64)
    return [_key(b"B%d:" % band + values[band * ROWS : (band + 1) * ROWS].tobytes()) for band in range(BANDS)]


def _lead_keys(text: str) -> list[int]:
    keys: list[int] = []
    # The lead is at the start: do not split a long text to its end (and
    # drop the sentence the cut went through).
    sentences = _SENTENCE_END.split(unique_paragraphs(text[:LEAD_CHARS]))
    if len(text) > LEAD_CHARS:
        sentences = sentences[:-1]
    for sentence in sentences:
        words = folded_words(sentence)
        if len(words) < SENTENCE_MIN_WORDS:
            continue
        keys.append(_key(b"S:" + " ".join(words).encode()))
        if len(keys) == LEAD_SENTENCES:
            break
    return keys


def _key(data: bytes) -> int:
    """A signed 64-bit key (fits a BIGINT column)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _keys(hashed: frozenset[int], text: str) -> tuple[int, ...]:
    return tuple(dict.fromkeys([*_band_keys(hashed), *_lead_keys(text)]))


def story_keys(title: str, text: str) -> tuple[int, ...]:
    """The index keys of one article (what a parser worker computes ahead)."""
    return _keys(shingles(title, text), text)


def story_signature(title: str, text: str) -> StorySignature:
    """Index keys and shingles of one article."""
    hashed = shingles(title, text)
    return StorySignature(_keys(hashed, text), hashed)


def similarity(a: frozenset[int], b: frozenset[int]) -> float:
    """How much of the shorter text the longer one repeats (0..1).

    The overlap coefficient |A∩B| / min(|A|, |B|), so a copy cut to its
    summary still scores as the same story; Jaccard when either is tiny.
    """
    if not a or not b:
        return 0.0
    shared = len(a & b)
    smaller = min(len(a), len(b))
    if smaller < MIN_OVERLAP_SHINGLES:
        return shared / len(a | b)
    return shared / smaller


def best_match(
    signature: StorySignature, candidates: Iterable[Candidate], threshold: float
) -> StoryMatch | None:
    """The candidate story this article belongs to, if any reaches `threshold`.

    Ties go to the earliest reference (lowest id), so the outcome does not
    depend on the order the candidates arrive in.
    """
    best: StoryMatch | None = None
    for candidate in candidates:
        score = similarity(signature.shingles, candidate.shingles)
        if score < threshold:
            continue
        if best is None or score > best.score or (score == best.score and candidate.ref < best.ref):
            best = StoryMatch(candidate.story, candidate.ref, score)
    return best


@dataclass(frozen=True)
class StoryPolicy:
    """De-duplication settings as plain values (from `dedup:` in the config)."""

    enabled: bool = True
    similarity: float = 0.4
    window: float = 3 * 86400.0
    escalate_after: int = 5
    escalate_window: float = 3600.0
    strip_params: tuple[str, ...] = ()


def should_escalate(
    outlets_before_alert: set[str], outlets_since: set[str], policy: StoryPolicy
) -> bool:
    """Whether an alerted story spread enough for its one follow-up.

    `outlets_since` are the outlets whose copies arrived after the alert and
    within the escalation window; only ones new to the story count.
    """
    return len(outlets_since - outlets_before_alert) >= policy.escalate_after


@dataclass(frozen=True)
class StoryLookup:
    """What the story index returned for a batch of new articles.

    `buckets`: recent article ids per index key (boilerplate keys left out);
    `stored`: those articles as candidates (their story and shingles).
    """

    buckets: Mapping[int, Sequence[int]]
    stored: Mapping[int, Candidate]


@dataclass
class Assignment:
    """The story of each new article of a batch.

    Story references: a stored story id (>= 0), or `-1 - i` for the new story
    that batch article `i` opens (its owner).
    """

    stories: list[int]  # per article: its story reference
    joined: set[int] = field(default_factory=set)  # stored stories that gained an article
    # Stored stories found to be one (loser → winner, the oldest): an article
    # matched both — copies that arrived before the one linking them.
    merges: dict[int, int] = field(default_factory=dict)

    def final(self, story: int) -> int:
        """Where a stored story ends up after this batch's merges."""
        while story in self.merges:
            story = self.merges[story]
        return story

    @property
    def owners(self) -> list[int]:
        """Batch indexes of the articles that open a new story, in order."""
        return [i for i, ref in enumerate(self.stories) if ref == -1 - i]


def ranked(keys: Iterable[int], buckets: Mapping[int, Sequence[int]]) -> list[int]:
    """Candidate article ids, most shared keys first (then oldest), at most MAX_CANDIDATES."""
    shared: dict[int, int] = defaultdict(int)
    for key in keys:
        for article_id in buckets.get(key, ()):
            shared[article_id] += 1
    return sorted(shared, key=lambda a: (-shared[a], a))[:MAX_CANDIDATES]


def assign(
    keys: Sequence[tuple[int, ...]],
    shingles_of: Callable[[int], frozenset[int]],
    lookup: StoryLookup,
    policy: StoryPolicy,
) -> Assignment:
    """Which story each new article joins: a stored one, an earlier one of this batch, or its own.

    `shingles_of(i)` gives batch article i's shingles; it is called only for
    articles that have candidates (most new articles have none). An article
    that matches two stored stories links them: they are merged into the
    oldest.
    """
    stories: list[int] = []
    joined: set[int] = set()
    batch_keys: dict[int, list[int]] = defaultdict(list)
    merges: dict[int, int] = {}

    def final(story: int) -> int:
        while story in merges:
            story = merges[story]
        return story

    for index, ks in enumerate(keys):
        candidates = [
            Candidate(c.ref, final(c.story), c.shingles)
            for c in (lookup.stored[a] for a in ranked(ks, lookup.buckets) if a in lookup.stored)
        ]
        # Earlier articles of this batch: refs -1, -2, ...
        earlier = {i for key in ks for i in batch_keys.get(key, ())}
        candidates.extend(Candidate(-1 - i, stories[i], shingles_of(i)) for i in sorted(earlier))
        signature = StorySignature(ks, shingles_of(index)) if candidates else None
        match = best_match(signature, candidates, policy.similarity) if signature else None
        if match is not None and match.story >= 0 and signature is not None:
            also = {
                c.story
                for c in candidates
                if c.story >= 0
                and c.story != match.story
                and similarity(signature.shingles, c.shingles) >= policy.similarity
            }
            if also:
                winner = min(also | {match.story})
                for story in also | {match.story}:
                    if story != winner:
                        merges[story] = winner
                joined.discard(match.story)
                match = StoryMatch(winner, match.ref, match.score)
                stories[:] = [final(x) if x >= 0 else x for x in stories]
                joined = {final(x) for x in joined}
        if match is None:
            stories.append(-1 - index)
        else:
            stories.append(match.story)
            if match.story >= 0:
                joined.add(match.story)
        for key in ks:
            batch_keys[key].append(index)
    return Assignment(stories, joined, merges)
