"""`core.feedplan.prepare`: what a parse worker computes ahead is what the store would compute."""

from __future__ import annotations

import pickle
from dataclasses import replace

from monitor.core.feedplan import Known, PreMatch, Prepare, identify, pack_seen, prepare, prepare_all
from monitor.core.matcher import ArticleText, Matcher, MatcherSpec, PackedSpec, WatchlistSpec
from monitor.core.query.ast import EntitySpec
from monitor.core.signature import story_keys
from monitor.fetch import pool
from monitor.fetch.pool import parse_job
from monitor.ingest import match_article
from monitor.models import ArticleData

STRIP = ("utm_source", "ref")


def article(i: int, link: str | None) -> ArticleData:
    return ArticleData(
        guid=f"g{i}",
        title=f"Cártel   de Sinaloa {i}",
        link=link,
        summary=f"Teaser {i} about the security agreement.",
        content=f"<p>Full text {i}.</p>",
        published=None,
    )


ARTICLES = [
    article(0, "https://News.example/a/1?utm_source=rss&id=7#top"),
    article(1, "http://news.example/a/2/?ref=home"),
    article(2, None),
]


def test_prepared_entries_identify_as_plain_ones() -> None:
    firsts = {a.guid: a for a in ARTICLES}
    known = {"g1": Known(5, "stale")}
    plain = identify(firsts, known, STRIP)
    ahead = identify({a.guid: prepare(a, Prepare(STRIP, True)) for a in ARTICLES}, known, STRIP)
    assert [(e.guid, e.canonical, e.fingerprint) for e in ahead] == [
        (e.guid, e.canonical, e.fingerprint) for e in plain
    ]
    assert ahead[0].canonical is not None and "utm_source" not in ahead[0].canonical
    assert ahead[1].canonical is None  # known by guid: no URL needed


def test_only_entries_new_to_the_feed_are_prepared_in_full() -> None:
    how = Prepare(STRIP, True, seen=pack_seen([ARTICLES[0].guid]))
    carried, new, _ = prepare_all(ARTICLES, how)
    assert carried.fingerprint and carried.canonical is None and carried.story_keys is None
    assert new.fingerprint and new.canonical and new.story_keys == story_keys(new.title, new.text)
    # A first poll (nothing seen): every entry; unknown (seen None): none.
    assert all(a.story_keys for a in prepare_all(ARTICLES, Prepare(STRIP, True, seen=b"")))
    assert not any(a.story_keys or a.canonical for a in prepare_all(ARTICLES, Prepare(STRIP, True)))
    assert all(a.fingerprint for a in prepare_all(ARTICLES, Prepare(STRIP, True)))
    no_stories = prepare(ARTICLES[0], Prepare(STRIP, keys=False))
    assert no_stories.canonical == prepare(ARTICLES[0], Prepare(STRIP, True)).canonical
    assert no_stories.story_keys is None


def test_a_stale_fingerprint_is_not_recomputed_but_a_missing_one_is() -> None:
    """identify trusts a prepared fingerprint; without one it computes the same value."""
    prepared = prepare(ARTICLES[0], Prepare())
    (entry,) = identify({"g0": replace(prepared, fingerprint=None)}, {})
    assert entry.fingerprint == prepared.fingerprint


def test_parse_job_prepares_every_entry_and_pickles() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>One</title><link>https://x.example/1?utm_source=a</link><guid>1</guid></item>
    <item><title>Two</title><link>https://x.example/2</link><guid>2</guid></item>
    </channel></rss>"""
    status, parsed = parse_job(
        body, {"content-type": "application/rss+xml"}, "https://x.example/f", 50, Prepare(STRIP, True, seen=b"")
    )
    assert status == "ok" and not isinstance(parsed, str)
    assert [a.canonical for a in parsed.articles] == ["https://x.example/1", "https://x.example/2"]
    assert all(a.fingerprint and a.story_keys for a in parsed.articles)
    assert pickle.loads(pickle.dumps(parsed)) == parsed


# --- first polls matched ahead ------------------------------------------------------

WATCHLISTS = (
    WatchlistSpec("cartels", query='"cártel de Sinaloa" OR CJNG'),
    WatchlistSpec("agreement", keywords=("security agreement",), tags=frozenset({"mexico"})),
    WatchlistSpec("own feed", query="feed:wire AND teaser"),
)
SPEC = MatcherSpec(WATCHLISTS)
PACKED = PackedSpec.of(SPEC)


def test_matches_computed_ahead_are_the_stores() -> None:
    matcher = SPEC.build()
    how = Prepare(STRIP, True, PreMatch(PACKED, "wire", frozenset({"mexico"})))
    for a in ARTICLES:
        ahead = prepare(a, how, matcher)
        assert ahead.matches == tuple(match_article(matcher, a.title, a.feed_text, "", "wire", frozenset({"mexico"})))
    assert [r.watchlist for r in prepare(ARTICLES[0], how, matcher).matches or ()] == [
        "cartels",
        "agreement",
        "own feed",
    ]
    # The feed's tags count: without "mexico" the tagged watchlist is out.
    other = prepare(ARTICLES[0], Prepare(match=PreMatch(PACKED, "other")), matcher)
    assert [r.watchlist for r in other.matches or ()] == ["cartels"]


def test_not_matched_ahead_when_carried_before_nor_with_a_page_nor_past_a_timeout() -> None:
    matcher = SPEC.build()
    pre = PreMatch(PACKED, "wire")
    carried = Prepare(match=pre, seen=pack_seen([ARTICLES[0].guid]))
    assert prepare_all(ARTICLES[:1], carried, matcher)[0].matches is None
    assert prepare(replace(ARTICLES[0], page_text="page"), Prepare(match=pre), matcher).matches is None
    hostile = MatcherSpec((WatchlistSpec("hostile", query=r"/(\w+)\1(a|a)+$/"),))
    timed_out = prepare(
        replace(ARTICLES[0], title="a" * 30 + "b"),
        Prepare(match=PreMatch(PackedSpec.of(hostile), "wire")),
        hostile.build(),
    )
    assert timed_out.matches is None  # the store matches it again, and logs the timeout


def test_a_matcher_spec_rebuilds_an_equal_matcher_and_pickles() -> None:
    matcher = Matcher(WATCHLISTS, {"amlo": EntitySpec("amlo", ("López Obrador",))})
    spec = pickle.loads(pickle.dumps(matcher.spec))
    assert spec == matcher.spec and hash(spec) == hash(matcher.spec)
    text = ArticleText("López Obrador y el CJNG", "", "wire")
    assert spec.build().match(text) == matcher.match(text)


def test_a_packed_spec_names_its_spec_and_travels() -> None:
    again = PackedSpec.of(MatcherSpec(WATCHLISTS))
    assert again.digest == PACKED.digest and again.unpack() == SPEC
    other = PackedSpec.of(MatcherSpec(WATCHLISTS[:2]))
    assert other.digest != PACKED.digest
    sent = pickle.loads(pickle.dumps(PACKED))
    assert (sent.digest, sent.data) == (PACKED.digest, PACKED.data)


def test_a_worker_compiles_each_spec_once_and_finds_it_by_digest() -> None:
    first = pool._matcher(PackedSpec.of(SPEC))
    # Found by its 16-byte name: the bytes are not read again.
    assert pool._matcher(PackedSpec(PACKED.digest, b"not read")) is first
    reloaded = PackedSpec.of(MatcherSpec(WATCHLISTS[:1]))
    second = pool._matcher(reloaded)
    assert second is not first and [w.name for w in second.watchlists] == ["cartels"]
    assert pool._matcher(PACKED) is first  # the previous config's is kept too


def test_parse_job_matches_a_first_poll_in_the_worker() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>CJNG leader held</title><link>https://x.example/1</link><guid>1</guid></item>
    <item><title>Weather</title><link>https://x.example/2</link><guid>2</guid></item>
    </channel></rss>"""
    how = Prepare((), False, PreMatch(PACKED, "wire"), seen=b"")
    _, parsed = parse_job(body, {"content-type": "application/rss+xml"}, "https://x.example/f", 50, how)
    assert not isinstance(parsed, str)
    assert [[r.watchlist for r in a.matches or ()] for a in parsed.articles] == [["cartels"], []]
