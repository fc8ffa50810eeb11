"""De-duplication: quality on the labelled fixture set, and cost per article at scale.

Quality (`--quality`): the items of tests/data/stories/corpus.json arrive in
published order and are grouped into stories by three methods, at a sweep of
thresholds; pairwise precision and recall against the labels:

- minhash+overlap (ours): MinHash band keys + lead-sentence keys find
  candidates, verified by the overlap coefficient of word 3-gram shingles;
- minhash+jaccard: the same candidates, verified by Jaccard similarity
  (what MinHash LSH alone estimates);
- simhash: 64-bit SimHash of the same shingles, same story when the Hamming
  distance is at most k (k swept 0..24).

Cost (`--cost`): N articles (default 100,000, realistic lengths, a vocabulary
of 20,000 words, all within the de-duplication window: the worst case) are
stored with their story keys in SQLite; then 300 new articles are stored one
feed-batch at a time through `ingest.store_feed`, a quarter of them copies
of stored ones. Reported: median and 99th percentile milliseconds per
article, the medians of the signature alone and of the copies alone, the
same at N/100 stored (the ratio shows whether lookup cost grows with the
store).

`--seeded DIR` keeps the seeded databases in DIR (made on first use) and
measures on a copy of one, so runs can be repeated and interleaved with
another checkout's code (copy this script into its bench/ and point both at
one DIR: the keys are the same if the signatures are). `--sizes` picks the
stored counts (default N/100 and N).

    python bench/dedup.py --quality
    python bench/dedup.py --cost --articles 100000
    python bench/dedup.py --cost --sizes 1000,100000 --seeded /tmp/dedup-seeds
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.core.signature import (  # noqa: E402 - after the sys.path line above
    shingles,
    story_signature,
)
from monitor.core.stories import StoryPolicy  # noqa: E402
from monitor.models import ArticleData, body_text  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "stories" / "corpus.json"


def _text(item: dict) -> str:
    return body_text(item["summary"], item["content"])


# --- quality -------------------------------------------------------------------


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _simhash(hashed: frozenset[int]) -> int:
    counts = [0] * 64
    for h in hashed:
        value = zlib.crc32(h.to_bytes(4, "little"), 0x9E3779B9) | (h << 32)
        for bit in range(64):
            counts[bit] += 1 if value >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if counts[bit] > 0)


def _group_index(items: list[dict], accept: Callable[[dict, dict], float], threshold: float) -> dict[str, int]:
    """Sequential grouping with candidates from the index keys (as the store does)."""
    by_key: dict[int, list[int]] = defaultdict(list)
    sigs, story_of = [], []
    for index, item in enumerate(items):
        sig = story_signature(item["title"], _text(item))
        earlier = sorted({i for key in sig.keys for i in by_key[key]})
        best, best_score = index, threshold
        for i in earlier:
            score = accept(sig, sigs[i])
            if score >= best_score and (best == index or score > best_score):
                best, best_score = story_of[i], score
        story_of.append(best)
        sigs.append(sig)
        for key in sig.keys:
            by_key[key].append(index)
    return {item["id"]: s for item, s in zip(items, story_of, strict=True)}


def _group_simhash(items: list[dict], k: int) -> dict[str, int]:
    hashes, story_of = [], []
    for index, item in enumerate(items):
        h = _simhash(shingles(item["title"], _text(item)))
        best, best_d = index, k + 1
        for i, other in enumerate(hashes):
            d = bin(h ^ other).count("1")
            if d < best_d:
                best, best_d = story_of[i], d
        story_of.append(best)
        hashes.append(h)
    return {item["id"]: s for item, s in zip(items, story_of, strict=True)}


def _scores(items: list[dict], found: dict[str, int]) -> tuple[float, float]:
    tp = fp = fn = 0
    for a, b in itertools.combinations(items, 2):
        same, grouped = a["story"] == b["story"], found[a["id"]] == found[b["id"]]
        tp += same and grouped
        fp += grouped and not same
        fn += same and not grouped
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def quality() -> None:
    items = [i for i in json.loads(CORPUS.read_text()) if i["kind"] != "url-variant"]
    items.sort(key=lambda i: (i["published"], i["id"]))
    pairs = sum(1 for a, b in itertools.combinations(items, 2) if a["story"] == b["story"])
    print(f"{len(items)} items, {len({i['story'] for i in items})} stories, {pairs} same-story pairs\n")
    print("| method | threshold | precision | recall |")
    print("|---|---:|---:|---:|")
    for name, accept in (
        ("minhash+overlap", lambda a, b: _overlap(a.shingles, b.shingles)),
        ("minhash+jaccard", lambda a, b: _jaccard(a.shingles, b.shingles)),
    ):
        for threshold in (0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8):
            p, r = _scores(items, _group_index(items, accept, threshold))
            print(f"| {name} | {threshold:.2f} | {p:.3f} | {r:.3f} |")
    for k in (0, 3, 6, 10, 14, 18, 24):
        p, r = _scores(items, _group_simhash(items, k))
        print(f"| simhash | k≤{k} | {p:.3f} | {r:.3f} |")
    _margins(items)


def _overlap(a: frozenset[int], b: frozenset[int]) -> float:
    from monitor.core.stories import similarity

    return similarity(a, b)


def _margins(items: list[dict]) -> None:
    from monitor.core.stories import similarity

    sigs = {i["id"]: story_signature(i["title"], _text(i)) for i in items}
    same, diff = [], []
    for a, b in itertools.combinations(items, 2):
        s = similarity(sigs[a["id"]].shingles, sigs[b["id"]].shingles)
        (same if a["story"] == b["story"] else diff).append(s)
    print(
        f"\noverlap of same-story pairs: min {min(same):.3f}, median {statistics.median(same):.3f}; "
        f"different stories: max {max(diff):.3f}, median {statistics.median(diff):.4f}"
    )


# --- cost ------------------------------------------------------------------------


def _article(rng: random.Random, vocab: list[str], n: int) -> ArticleData:
    paragraphs = []
    for _ in range(rng.randint(5, 9)):
        sentences = [
            " ".join(rng.choice(vocab) for _ in range(rng.randint(10, 24))).capitalize() + "."
            for _ in range(rng.randint(2, 4))
        ]
        paragraphs.append(" ".join(sentences))
    title = " ".join(rng.choice(vocab) for _ in range(rng.randint(6, 12))).capitalize()
    return ArticleData(
        guid=f"g{n}",
        title=title,
        link=f"https://outlet{n % 97}.example/news/{n}",
        summary=paragraphs[0],
        content="\n".join(paragraphs),
        published=None,
    )


def _seed(url: str, count: int, rng: random.Random, vocab: list[str], now: datetime) -> list[ArticleData]:
    """`count` stored articles with story keys, written in bulk (not timed)."""
    from sqlalchemy import insert

    from monitor.core.identity import canonical_url, content_fingerprint
    from monitor.store.engine import make_engine
    from monitor.store.memkeys import keys_blob
    from monitor.store.schema import (
        ArticleRow,
        ArticleSourceRow,
        FeedRow,
        StoryRow,
    )

    engine = make_engine(url)
    kept = []
    with engine.begin() as conn:
        conn.execute(insert(FeedRow), [{"name": "seed", "url": "http://seed/", "config_url": "http://seed/", "created_at": now}])
        batch = 2000
        for start in range(0, count, batch):
            arts = [_article(rng, vocab, n) for n in range(start, min(count, start + batch))]
            kept.extend(arts[:2])
            sigs = [story_signature(a.title, a.text) for a in arts]
            conn.execute(
                insert(StoryRow),
                [{"id": start + i + 1, "title": a.title, "first_seen_at": now, "last_seen_at": now} for i, a in enumerate(arts)],
            )
            conn.execute(
                insert(ArticleRow),
                [
                    {
                        "id": start + i + 1,
                        "feed_id": 1,
                        "guid": a.guid,
                        "link": a.link,
                        "canonical_url": canonical_url(a.link or ""),
                        "title": a.title,
                        "summary": a.summary,
                        "content": a.content,
                        "content_hash": content_fingerprint(a.title, a.text),
                        "story_id": start + i + 1,
                        "published_at": now,
                        "first_seen_at": now,
                        "story_keys": keys_blob(sigs[i].keys),  # SQLite's index is loaded from these
                    }
                    for i, a in enumerate(arts)
                ],
            )
            conn.execute(
                insert(ArticleSourceRow),
                [
                    {"article_id": start + i + 1, "feed_id": 1, "guid": a.guid, "link": a.link, "title": a.title, "first_seen_at": now}
                    for i, a in enumerate(arts)
                ],
            )
    engine.dispose()
    return kept


def _seeded(directory: Path, stored: int, vocab: list[str], now: datetime) -> list[ArticleData]:
    """The seed database for `stored` articles in `directory` (made once), and its kept articles."""
    db, kept = directory / f"seed-{stored}.db", directory / f"seed-{stored}.json"
    if not kept.exists():
        db.unlink(missing_ok=True)
        arts = _seed(f"sqlite:///{db}", stored, random.Random(7), vocab, now)
        kept.write_text(json.dumps([[a.guid, a.title, a.link, a.summary, a.content] for a in arts]))
    return [ArticleData(g, t, link, s, c, None) for g, t, link, s, c in json.loads(kept.read_text())]


def _measure(url: str, stored: int, rng: random.Random, vocab: list[str], now: datetime, copies_of: list[ArticleData]) -> dict[str, float]:
    """Per new article: signature + story lookup (the de-duplication cost), and a
    whole `ingest.store_feed` with de-duplication on and off (its share of a save)."""
    from monitor.core.matcher import Matcher
    from monitor.core.polling import Decision
    from monitor.core.signature import story_keys
    from monitor.core.stories import assign
    from monitor.ingest import FeedUpdate, store_feed
    from monitor.store.engine import make_engine
    from monitor.store.feeds import FeedSpec
    from monitor.store.repository import Repository
    from monitor.store.stories import story_lookup
    from monitor.wiring import Routing

    engine = make_engine(url)
    repo = Repository(engine)
    repo.index_missing_story_keys(now - timedelta(seconds=StoryPolicy().window))  # the in-memory index, as at start
    repo.sync_feeds([FeedSpec("seed", "http://seed/"), FeedSpec("new", "http://new/")], now)
    feed_id = next(f.feed_id for f in repo.due_feeds(now + timedelta(days=1)) if f.name == "new")
    policy = StoryPolicy()
    on, off = Routing({}, {}, policy), Routing({}, {}, StoryPolicy(enabled=False))
    dedup, signing, lookups, copies, save_on, save_off, joined = [], [], [], [], [], [], 0
    no_match = Matcher([])
    decision = Decision(now + timedelta(minutes=15), 900, 0, 0, None)

    def save(art: ArticleData, route: Routing) -> float:
        t0 = time.perf_counter()
        store_feed(repo, FeedUpdate(feed_id, "new", frozenset(), [art], now), no_match, route, lambda _n: decision)
        return (time.perf_counter() - t0) * 1000

    for n in range(300):
        if n % 4 == 0 and copies_of:
            base = copies_of[n % len(copies_of)]
            art = ArticleData(f"new{n}", "Copy: " + base.title, f"https://copy{n}.example/x", base.summary, "Boilerplate line here.\n" + base.content, None)
        else:
            art = _article(rng, vocab, stored + 10_000 + n)
            art = ArticleData(f"new{n}", art.title, f"https://fresh.example/{n}", art.summary, art.content, None)
        # As ingest.store_feed does it: the index keys, the lookup, and the
        # article's shingles only if it has candidates.
        # The lookup runs inside an open transaction, as in the daemon, where
        # it is one step of the feed's transaction (whose begin and commit
        # are the save's cost, not de-duplication's: ≈ 0.1 ms here).
        with repo._session.begin() as session:
            session.connection()
            t0 = time.perf_counter()
            keys = story_keys(art.title, art.text)
            t1 = time.perf_counter()
            lookup = story_lookup(session, set(keys), now - timedelta(seconds=policy.window), repo.story_memory)
            plan = assign([keys], lambda _i, art=art: shingles(art.title, art.text), lookup, policy)
            t2 = time.perf_counter()
        dedup.append((t2 - t0) * 1000)
        signing.append((t1 - t0) * 1000)
        lookups.append((t2 - t1) * 1000)
        if n % 4 == 0 and copies_of:
            copies.append(dedup[-1])
        joined += plan.stories[0] >= 0
        save_on.append(save(art, on))
        plain = ArticleData(f"plain{n}", art.title, f"https://plain.example/{n}", art.summary, art.content, None)
        save_off.append(save(plain, off))
    engine.dispose()
    dedup.sort()
    return {
        "median": statistics.median(dedup),
        "p99": dedup[int(len(dedup) * 0.99) - 1],
        "signature": statistics.median(signing),
        "lookup": statistics.median(lookups),
        "copies": statistics.median(copies),
        "save_on": statistics.median(save_on),
        "save_off": statistics.median(save_off),
        "joined": joined,
    }


def cost(sizes: list[int], seeded: Path | None) -> None:
    vocab = [f"w{i:05d}" for i in range(20_000)]
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    rows = []
    import monitor.core.signature

    for stored in sizes:
        # Each size starts with no remembered shingles (older checkouts have none).
        getattr(monitor.core.signature, "forget_shingles", lambda: None)()
        with tempfile.TemporaryDirectory() as tmp:
            directory = seeded or Path(tmp)
            directory.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            kept = _seeded(directory, stored, vocab, now)
            shutil.copyfile(directory / f"seed-{stored}.db", f"{tmp}/bench.db")
            ready = time.perf_counter() - t0
            m = _measure(f"sqlite:///{tmp}/bench.db", stored, random.Random(stored), vocab, now, kept)
            size = Path(f"{tmp}/bench.db").stat().st_size / 1e6
            rows.append((stored, m, ready, size))
            print(f"stored {stored:,}: {m} (seeded or copied in {ready:.0f} s, db {size:.0f} MB)", flush=True)
    # The daemon computes a new entry's keys in a parse worker (core.feedplan.prepare)
    # and the lookup in its storing thread: both columns, and their sum.
    print("\n| stored articles | de-dup median ms/article | de-dup p99 ms/article | keys median ms (parse worker) "
          "| lookup + grouping median ms (store) | copies' de-dup median ms | save with de-dup (median ms) "
          "| save without (median ms) | copies found |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for stored, m, _, _ in rows:
        print(f"| {stored:,} | {m['median']:.2f} | {m['p99']:.2f} | {m['signature']:.2f} | {m['lookup']:.2f} "
              f"| {m['copies']:.2f} | {m['save_on']:.1f} | {m['save_off']:.1f} | {m['joined']}/75 |")
    small, big = rows[0][1], rows[-1][1]
    print(f"\nmedian at {rows[-1][0]:,} / at {rows[0][0]:,}: {big['median'] / small['median']:.2f}×; "
          f"p99: {big['p99'] / small['p99']:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--cost", action="store_true")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--sizes", help="stored counts, comma-separated (default: N/100 (at least 1,000) and N)")
    parser.add_argument("--seeded", type=Path, help="keep the seeded databases here and measure on copies")
    args = parser.parse_args()
    if args.quality or not args.cost:
        quality()
    if args.cost or not args.quality:
        sizes = (
            [int(x) for x in args.sizes.split(",")] if args.sizes else [max(1000, args.articles // 100), args.articles]
        )
        cost(sizes, args.seeded)


if __name__ == "__main__":
    main()
