"""Storing one parsed feed: read what the store knows, decide in pure code, apply.

Owns the order of the steps, nothing else: every read is a named method of
`store.entries.FeedTransaction`, every decision a function of
`core.feedplan` / `core.stories`, and the whole plan — articles, sources,
stories, hits and the outbox rows of their alerts, the feed's next poll —
is written by one `apply` in the same transaction as the reads. Used by
the poller for each fetched feed; anything else that stores entries (full
text, a second daemon holding the feed's lease) goes through here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from monitor.core.feedplan import (
    FeedPlan,
    Router,
    classify,
    first_entries,
    identify,
    new_hits,
    new_urls,
    plan_hits,
    story_pairs,
    update_hits,
)
from monitor.core.fulltext import page_adds
from monitor.core.matcher import ArticleText, Matcher, MatchResult
from monitor.core.polling import Decision
from monitor.core.signature import shingles, story_keys
from monitor.core.stories import StoryPolicy, assign
from monitor.models import ArticleData, NewHit
from monitor.store.entries import FeedTransaction, SaveResult
from monitor.store.pages import NOT_ADDING, PageJob, PageTransaction


class PageTransactions(Protocol):
    """Where late pages are stored (`store.pages.PageStore`)."""

    def page_transaction(self) -> AbstractContextManager[PageTransaction]: ...


class FeedTransactions(Protocol):
    """Where a feed's entries are stored (`store.entries.EntryStore`)."""

    def feed_transaction(self, feed_id: int, *, stories: bool) -> AbstractContextManager[FeedTransaction]: ...


@dataclass(frozen=True)
class FeedUpdate:
    """A fetched and parsed feed, ready to store."""

    feed_id: int
    feed: str
    tags: frozenset[str]
    articles: Sequence[ArticleData]
    now: datetime
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    kind: str | None = None


def store_feed(
    store: FeedTransactions,
    update: FeedUpdate,
    matcher: Matcher,
    route: Router,
    decide: Callable[[int], Decision],
) -> SaveResult:
    """Store one feed's entries, their stories, hits and alerts in one transaction.

    `decide` turns the number of entries that changed the store into the
    feed's next polling state (`core.polling.after_success`).
    """
    policy = route.stories or StoryPolicy(enabled=False)
    now = update.now

    def match(article: ArticleData) -> Sequence[MatchResult]:
        if article.matches is not None and not article.page_text:  # matched ahead (`core.feedplan.prepare`)
            return article.matches
        return match_article(matcher, article.title, article.feed_text, article.page_text, update.feed, update.tags)

    with store.feed_transaction(update.feed_id, stories=policy.enabled) as tx:
        firsts = first_entries(update.articles)
        known = tx.known(list(firsts))
        entries = identify(firsts, known, policy.strip_params)
        classified = classify(entries, known, tx.articles_by_url(new_urls(entries, known)))
        new = classified.new

        assignment, keys = None, []
        if policy.enabled and new:
            keys = [
                e.article.story_keys
                if e.article.story_keys is not None
                else story_keys(e.article.title, e.article.text)
                for e in new
            ]
            cache: dict[int, frozenset[int]] = {}

            def shingles_of(i: int) -> frozenset[int]:
                if i not in cache:
                    cache[i] = shingles(new[i].article.title, new[i].article.text)
                return cache[i]

            assignment = assign(keys, shingles_of, tx.story_lookup(keys, policy, now), policy)
        final = assignment.final if assignment is not None else (lambda story: story)

        # An update's story may be merged into another by this batch.
        updates = [u if u.story is None else replace(u, story=final(u.story)) for u in tx.updates(classified.updates)]
        stories = assignment.stories if assignment is not None else [None] * len(new)
        found = new_hits(new, stories, update.feed, now, match) + update_hits(updates, update.feed, match)
        state = tx.alert_state(story_pairs(found), assignment.merges if assignment is not None else None)
        plan = FeedPlan(
            feed_id=update.feed_id,
            now=now,
            decision=decide(classified.changed),
            etag=update.etag,
            last_modified=update.last_modified,
            feed_title=update.title,
            new=new,
            assignment=assignment,
            keys=keys,
            copies=classified.copies,
            copy_stories=frozenset(final(s) for s in tx.stories_of([a for a, _ in classified.copies])),
            updates=updates,
            hits=plan_hits(found, route, state),
            feed_kind=update.kind,
        )
        return tx.apply(plan, route.instant, policy)


def match_article(
    matcher: Matcher, title: str, feed_text: str, page_text: str, feed: str, tags: frozenset[str]
) -> list[MatchResult]:
    """Match an article on its full text when it has one, saying which text each hit needs.

    A watchlist that matches the title and the feed's text alone is `feed`;
    one that only the page's text gives is `page`. A watchlist only the
    feed's text matches (words of a summary that are not on the page) still
    matches, on the feed's text. Without a page text this is one plain match.
    """
    results = list(matcher.match(ArticleText(title, page_text or feed_text, feed, tags)))
    if not page_text:
        return results
    on_feed = list(matcher.match(ArticleText(title, feed_text, feed, tags)))
    in_feed = {r.watchlist for r in on_feed}
    out = [r if r.watchlist in in_feed else replace(r, matched_in="page") for r in results]
    # A summary the editor wrote (a dek) may say what the page does not: still a match.
    found = {r.watchlist for r in results}
    return out + [r for r in on_feed if r.watchlist not in found]


def unseen(
    store: FeedTransactions, feed_id: int, articles: Sequence[ArticleData], strip_params: Sequence[str]
) -> list[ArticleData]:
    """The entries `store_feed` would store as new articles (not known by guid nor by URL).

    Read before their pages are fetched, so a poll fetches pages for new
    articles only; a copy of an article another feed brought is not fetched
    again (one fetch per canonical URL).
    """
    with store.feed_transaction(feed_id, stories=False) as tx:
        firsts = first_entries(articles)
        known = tx.known(list(firsts))
        entries = identify(firsts, known, strip_params)
        return [e.article for e in classify(entries, known, tx.articles_by_url(new_urls(entries, known))).new]


def store_page(
    store: PageTransactions,
    job: PageJob,
    node: str,
    page_text: str,
    matcher: Matcher,
    route: Router,
    tags: frozenset[str],
    now: datetime,
) -> list[NewHit] | None:
    """A late page's text stored, and the article re-matched on it, in one transaction.

    Like an update: only watchlists the article did not match before give a
    hit (and an alert, routed as any other). `page_text` '' (the page added
    nothing: `core.fulltext.page_adds`) records the page as done without matching. None: the page's
    lease was taken over by another node, nothing written.
    """
    with store.page_transaction() as tx:
        stored = tx.article(job.article_id)
        if stored is None:
            return None
        title, feed_text, feed = stored
        reason = None
        if not page_adds(feed_text, page_text):
            page_text, reason = "", NOT_ADDING
        if not tx.page_done(job, node, page_text, reason):
            return None
        if not page_text:
            return []
        results = match_article(matcher, title, feed_text, page_text, feed, tags)
        found = tx.found([(job.article_id, r) for r in results])
        state = tx.alert_state(story_pairs(found))
        return tx.insert(plan_hits(found, route, state), now)
