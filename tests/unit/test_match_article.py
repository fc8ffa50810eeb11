"""Which text a hit matched in: the feed's, or only the article page's."""

from __future__ import annotations

from monitor.config import parse_config
from monitor.ingest import match_article
from monitor.wiring import make_matcher

CONFIG = """
watchlists:
  - {name: deep, keywords: ["Tren de Aragua"]}
  - {name: talks, keywords: ["security agreement"]}
  - {name: dek, keywords: ["exclusive"]}
"""


def matcher():
    return make_matcher(parse_config(CONFIG))


FEED = "Officials met to review the security agreement. An exclusive report."
PAGE = "Officials met to review the security agreement.\nThey also discussed the Tren de Aragua network."


def test_without_a_page_every_hit_is_in_the_feed() -> None:
    results = match_article(matcher(), "Talks resume", FEED, "", "Ledger", frozenset())
    assert sorted((r.watchlist, r.matched_in) for r in results) == [("dek", "feed"), ("talks", "feed")]


def test_a_term_only_the_page_has_is_matched_in_the_page() -> None:
    results = match_article(matcher(), "Talks resume", FEED, PAGE, "Ledger", frozenset())
    assert sorted((r.watchlist, r.matched_in) for r in results) == [
        ("deep", "page"),
        ("dek", "feed"),  # the summary's own words still count when the page lacks them
        ("talks", "feed"),
    ]
    deep = next(r for r in results if r.watchlist == "deep")
    assert "Tren de Aragua" in deep.snippet


def test_a_title_term_is_in_the_feed_whatever_the_page_says() -> None:
    results = match_article(matcher(), "Tren de Aragua expands", "Short.", PAGE, "Ledger", frozenset())
    assert [(r.watchlist, r.matched_in) for r in results if r.watchlist == "deep"] == [("deep", "feed")]
