"""Prometheus metrics of this process, in a registry of our own (not the global one).

The poller, the dispatcher and the scheduler count into `METRICS`; the web
app serves them at /metrics together with gauges read from the database at
scrape time (see `monitor.web.app`). Counting is cheap and never fails the
work it counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

POLL_OUTCOMES = ("ok", "not_modified", "failed")
DELIVERY_OUTCOMES = ("sent", "failed", "gave_up")


class Metrics:
    """The counters and histograms, registered in `self.registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            "monitor_polls", "Feed polls by outcome (ok, not_modified, failed)", ["outcome"], registry=r
        )
        for outcome in POLL_OUTCOMES:
            self.polls.labels(outcome)
        self.fetch_seconds = Histogram(
            "monitor_fetch_seconds",
            "Time to fetch one feed (connect to last byte)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.articles = Counter("monitor_articles_stored", "New articles stored", registry=r)
        self.hits = Counter("monitor_hits", "Hits stored, by watchlist", ["watchlist"], registry=r)
        self.deliveries = Counter(
            "monitor_deliveries",
            "Send attempts of alerts, digests and summaries, by channel and outcome (sent, failed, gave_up)",
            ["channel", "outcome"],
            registry=r,
        )
        self.scheduler_lag = Histogram(
            "monitor_scheduler_lag_seconds",
            "Seconds between a scheduled job's planned and actual start",
            ["job"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )

        self.leases_taken_over = Counter(
            "monitor_leases_taken_over",
            "Feed leases this node claimed after another node's lease on them expired (a node died or stalled)",
            registry=r,
        )
        self.pages = Counter(
            "monitor_article_pages",
            "Article pages fetched for full text, by outcome: done (read), retry (failed once), failed (given up), "
            "pending (not in within fulltext.max_wait: fetched after the poll)",
            ["outcome"],
            registry=r,
        )
        self.leases_held = Gauge(
            "monitor_leases_held", "Feeds this node holds a lease on (claimed, not yet recorded)", registry=r
        )

    def poll_outcome(self, outcome: str, elapsed: float | None = None) -> None:
        self.polls.labels(outcome).inc()
        if elapsed is not None and elapsed > 0:
            self.fetch_seconds.observe(elapsed)

    def stored(self, new_articles: int, watchlists: list[str]) -> None:
        if new_articles:
            self.articles.inc(new_articles)
        for name in watchlists:
            self.hits.labels(name).inc()

    def delivery(self, channel: str, outcome: str) -> None:
        self.deliveries.labels(channel, outcome).inc()


# The process's metrics: one daemon per process, counted from anywhere in it.
METRICS = Metrics()
