"""Near-duplicate detection: which articles tell the same story.

Pure functions over plain values: the grouping. An article's index keys
(MinHash band keys and lead-sentence keys over its word 3-gram shingles;
`core.signature` computes them and owns their definition) find the stored
articles that may tell the same story. Candidates are then verified
exactly: the overlap coefficient of the two shingle sets (shared / smaller
set), so a summary contained in the full article scores high while two
articles sharing a few phrases — the same cartel, the same minister —
score low. Each new article of a batch joins a stored story, the story
of an earlier article of the batch, or a new one; an article that matches
two stored stories links them (merged into the oldest). An alerted story
escalates once when enough new outlets copy it. docs/benchmarks.md
("Stories") gives the measurements behind the method and the default
threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from monitor.core.keyindex import KeyIndex
from monitor.core.signature import StorySignature

__all__ = [
    "Assignment",
    "Candidate",
    "StoryLookup",
    "StoryMatch",
    "StoryPolicy",
    "assign",
    "best_match",
    "should_escalate",
    "similarity",
]

# At most this many stored candidates are verified per new article, most keys shared first.
MAX_CANDIDATES = 12
# Under this many shingles the overlap coefficient says little: use Jaccard.
MIN_OVERLAP_SHINGLES = 12


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


def best_match(signature: StorySignature, candidates: Iterable[Candidate], threshold: float) -> StoryMatch | None:
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


def should_escalate(outlets_before_alert: set[str], outlets_since: set[str], policy: StoryPolicy) -> bool:
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
    batch_keys = KeyIndex()  # batch article indexes per key
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
        earlier = batch_keys.union(ks)
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
        batch_keys.add(ks, index)
    return Assignment(stories, joined, merges)
