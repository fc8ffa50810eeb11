"""Story grouping on the labelled fixture set (tests/data/stories), pure core.

Items arrive in published order; each looks up earlier ones through the same
index keys the database holds and joins the best story over the threshold,
as `core.stories.assign` does.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

from monitor.config import DedupSettings
from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec
from monitor.core.signature import story_signature
from monitor.core.stories import Candidate, best_match, similarity
from monitor.fetch.parse import parse_feed
from monitor.models import ArticleData

CORPUS = json.loads((Path(__file__).resolve().parents[1] / "data" / "stories" / "corpus.json").read_text())
ITEMS = [item for item in CORPUS if item["kind"] != "url-variant"]  # same article: not a story question


def text_of(item: dict) -> str:
    return ArticleData(
        guid="", title=item["title"], link=None, summary=item["summary"], content=item["content"], published=None
    ).text


def group(items: list[dict], threshold: float) -> dict[str, int]:
    by_key: dict[int, list[int]] = defaultdict(list)
    signatures = []
    story_of: list[int] = []
    for index, item in enumerate(sorted(items, key=lambda i: (i["published"], i["id"]))):
        sig = story_signature(item["title"], text_of(item))
        earlier = sorted({i for key in sig.keys for i in by_key[key]})
        match = best_match(sig, [Candidate(i, story_of[i], signatures[i].shingles) for i in earlier], threshold)
        story_of.append(match.story if match else index)
        signatures.append(sig)
        for key in sig.keys:
            by_key[key].append(index)
    ordered = sorted(items, key=lambda i: (i["published"], i["id"]))
    return {item["id"]: story for item, story in zip(ordered, story_of, strict=True)}


def pair_scores(items: list[dict], found: dict[str, int]) -> tuple[float, float]:
    tp = fp = fn = 0
    for a, b in itertools.combinations(items, 2):
        same, grouped = a["story"] == b["story"], found[a["id"]] == found[b["id"]]
        tp += same and grouped
        fp += grouped and not same
        fn += same and not grouped
    return tp / (tp + fp), tp / (tp + fn)


def test_the_default_threshold_groups_the_fixture_set_exactly() -> None:
    found = group(ITEMS, DedupSettings().similarity)
    assert pair_scores(ITEMS, found) == (1.0, 1.0)
    s1 = {found[i["id"]] for i in ITEMS if i["story"] == "s1"}
    assert len(s1) == 1  # five versions, one story (the summary-only one included)


def test_same_subject_different_facts_stay_apart_at_any_sane_threshold() -> None:
    by_id = {i["id"]: i for i in ITEMS}
    for a, b in [("s2-wire", "s3-wire"), ("s1-wire", "s4-wire"), ("s2-wire", "s10-capital-post")]:
        sa = story_signature(by_id[a]["title"], text_of(by_id[a]))
        sb = story_signature(by_id[b]["title"], text_of(by_id[b]))
        assert similarity(sa.shingles, sb.shingles) < 0.25


def test_a_summary_only_copy_is_contained_in_the_full_story() -> None:
    by_id = {i["id"]: i for i in ITEMS}
    full = story_signature(by_id["s1-wire"]["title"], text_of(by_id["s1-wire"]))
    short = story_signature(by_id["s1-news-aggregator"]["title"], text_of(by_id["s1-news-aggregator"]))
    assert len(short.shingles) * 5 < len(full.shingles)
    assert similarity(full.shingles, short.shingles) >= 0.5
    assert set(full.keys) & set(short.keys)  # found through the index, not a scan


def test_signatures_are_stable_and_order_free() -> None:
    item = ITEMS[0]
    assert story_signature(item["title"], text_of(item)) == story_signature(item["title"], text_of(item))
    sig = story_signature(item["title"], text_of(item))
    cands = [Candidate(2, 20, sig.shingles), Candidate(1, 10, sig.shingles)]
    assert best_match(sig, cands, 0.5).story == best_match(sig, cands[::-1], 0.5).story == 10


def test_doubled_paragraphs_do_not_inflate_the_score() -> None:
    para = "<p>The cartel's leaders met in Culiacán, officials said on Thursday evening.</p>"
    other = "<p>A second paragraph about the security agreement between both countries.</p>"

    def feed(body: str) -> bytes:
        return (
            '<rss version="2.0"><channel><title>t</title><item><title>Story</title><guid>g</guid>'
            f"<description><![CDATA[{body}]]></description></item></channel></rss>"
        ).encode()

    once = parse_feed(feed(para + other), {}, "http://example.test/feed").articles[0]
    twice = parse_feed(feed(para + other + para + other), {}, "http://example.test/feed").articles[0]
    assert twice.text == once.text
    matcher = Matcher([WatchlistSpec("cartels", keywords=("cartel",))])

    def score(a: ArticleData) -> float:
        return matcher.match(ArticleText(a.title, a.text))[0].score

    assert score(twice) == score(once)
