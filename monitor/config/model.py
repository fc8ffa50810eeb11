"""The configuration's shape: pydantic models, durations, secrets, names.

Frozen values; loading, substitution and error lines are in `loading`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.config.durations import Duration, format_duration
from monitor.config.spikes import SpikeOverride, SpikeSettings
from monitor.core.text import words

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "MONITOR_CONFIG"

# --- secrets ---------------------------------------------------------------


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks.

    `str(secret)` still gives the value (apprise needs it); `repr` is masked,
    and display code uses `redact_url` instead.
    """

    def __repr__(self) -> str:
        return "Secret('***')"


def _to_secret(value: str) -> Secret:
    if not value.strip():
        raise ValueError("is empty")
    return Secret(value.strip())


SecretUrl = Annotated[str, AfterValidator(_to_secret), PlainSerializer(lambda s: "***")]


def redact_url(url: str) -> str:
    """An apprise URL in apprise's privacy form (passwords and tokens hidden)."""
    from monitor.notify.redact import privacy_url  # late: notify is an edge

    return privacy_url(url)


# --- the model ---------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a URL string")
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.strip()


HttpUrl = Annotated[str, BeforeValidator(_http_url)]


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty name")
    return value.strip()


Name = Annotated[str, BeforeValidator(_name)]


def _tags(value: object) -> object:
    if isinstance(value, str):
        return [value]
    return value


Tags = Annotated[tuple[Name, ...], BeforeValidator(_tags)]


def _keyword(value: str) -> str:
    if not words(value):
        raise ValueError(f"{value!r} has no letters or digits to match")
    return value


Keyword = Annotated[str, AfterValidator(_keyword)]


def _non_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if not value:
        raise ValueError("must not be empty")
    return value


FulltextMode = Literal["auto", "always", "never"]
SourceType = Literal["auto", "rss", "jsonfeed", "sitemap", "html"]


def _css(value: str) -> str:
    from monitor.fetch.selectors import selector_problem

    problem = selector_problem(value)
    if problem:
        raise ValueError(problem)
    return value.strip()


Css = Annotated[str, AfterValidator(_css)]


class PollSettings(_Model):
    """How feeds are fetched."""

    # The bounds first: `interval` is checked against them.
    min_interval: Duration = 300.0
    max_interval: Duration = 86400.0
    interval: Duration = 900.0
    timeout: Duration = 30.0
    connect_timeout: Duration = 10.0
    deadline: Duration | None = None
    concurrency: int = Field(default=10, ge=1, le=500)
    per_host: int = Field(default=2, ge=1, le=100)
    host_delay: Duration | Literal[0] = 0.5
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_entries: int = Field(default=500, ge=1)
    jitter: float = Field(default=0.1, ge=0, le=0.5)
    quiet_after: Duration = 7 * 86400.0
    alert_after: Duration = 86400.0
    parse_workers: int | None = Field(default=None, ge=0, le=64)
    user_agent: str | None = None
    # Follow a publisher's redirect from a public address into private space
    # (loopback, LAN, link-local, ...); refused unless set.
    allow_private_redirects: bool = False
    # Fetch the article page of new entries: auto (when the feed's text is
    # short or a teaser), always, or never. A feed's own `fulltext` wins.
    fulltext: FulltextMode = "auto"

    @model_validator(mode="after")
    def _bounds(self) -> PollSettings:
        if self.min_interval > self.max_interval:
            raise ValueError("min_interval is longer than max_interval")
        return self

    @field_validator("interval")
    @classmethod
    def _within_bounds(cls, value: float, info: ValidationInfo) -> float:
        low, high = info.data.get("min_interval"), info.data.get("max_interval")
        if low is not None and high is not None and not low <= value <= high:
            # Otherwise the adaptive schedule would silently clamp it.
            raise ValueError(
                f"{format_duration(value)} is outside min_interval {format_duration(low)} .. "
                f"max_interval {format_duration(high)}; change the bounds, or give the feeds "
                "that need it their own interval"
            )
        return value


class FulltextSettings(_Model):
    """Fetching the article page of entries whose feed carries only a teaser."""

    # `auto` fetches an entry whose feed text has fewer words than this.
    min_words: int = Field(default=150, ge=0, le=100_000)
    # How long a new entry's alert may wait for its page; after that it is
    # matched on the feed's text and re-matched when the page arrives.
    max_wait: Duration = Field(default=30.0, le=3600.0)
    # Obey robots.txt for article pages (feeds are fetched as configured).
    respect_robots: bool = True
    # Largest article page read (after decompression).
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=16 * 1024)
    # A failed page is tried once more after this long.
    retry_after: Duration = 900.0
    # Article pages fetched at once across all hosts (`poll.per_host` and
    # `poll.host_delay` still apply per host).
    concurrency: int = Field(default=4, ge=1, le=100)


class DeliverySettings(_Model):
    """How alerts are sent, retried and summarised."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_delay: Duration = 60.0
    max_retry_delay: Duration = 3600.0
    # A send claimed longer ago than this belongs to a process that died.
    claim_timeout: Duration = 300.0
    # Storm control: how long overflow hits wait to be summarised together.
    summary_delay: Duration = 600.0


class DedupSettings(_Model):
    """Cross-feed de-duplication: one story, one alert."""

    enabled: bool = True
    # Near-duplicate threshold on the overlap of word 3-gram shingles
    # (docs/architecture.md "Stories"); chosen from tests/data/stories.
    similarity: float = Field(default=0.4, gt=0, le=1)
    # How long a story stays open for copies to join it.
    window: Duration = 3 * 86400.0
    # Follow-up alert when this many more outlets report an alerted story ...
    escalate_after: int = Field(default=5, ge=1)
    # ... within this long.
    escalate_window: Duration = 3600.0
    # Query parameters dropped from article URLs, beside utm_*, fbclid, gclid, ...
    strip_params: tuple[str, ...] = ()


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
    return value


# web.token: shorter ones are refused (`monitor check`, and the server at start).
MIN_TOKEN_LENGTH = 16


def normal_host(value: object) -> str:
    """A host name or IP address as a Host header names it, without a port: lower case,
    no trailing dot, addresses in their short form, IPv6 in brackets (raises ValueError)."""
    import ipaddress

    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a host name, e.g. monitor.example.org")
    host = value.strip().lower().rstrip(".")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        if not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*", host):
            raise ValueError(
                f"{value!r} is not a host name (no scheme, port or path: e.g. monitor.example.org)"
            ) from None
        return host
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


class WebSettings(_Model):
    """The dashboard, API, Atom feeds, /healthz and /metrics."""

    enabled: bool = False
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"
    token: SecretUrl | None = None
    # Host headers accepted beside the listen host and loopback names (DNS rebinding).
    allowed_hosts: tuple[Annotated[str, BeforeValidator(normal_host)], ...] = ()
    # A sign-in lasts this long (absolute: from signing in, not from the last request).
    session_lifetime: Duration = 12 * 3600.0

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class RetentionSettings(_Model):
    """How long stored data is kept (None: for ever)."""

    # Articles with no hits older than this are pruned, with their story index.
    articles: Duration | None = None
    # Hits (and then their articles) older than this are pruned.
    hits: Duration | None = None


class ClusterSettings(_Model):
    """Several daemons on one PostgreSQL database (and this daemon's name among them)."""

    # This daemon's name in `monitor status` and in feed leases; default host:pid.
    node_name: str | None = Field(default=None, min_length=1, max_length=200)
    # How often a daemon says it is alive; a node silent for 3 heartbeats is stale.
    heartbeat: Duration = Field(default=10.0, ge=1.0, le=300.0)
    # Feeds claimed at a time per daemon (PostgreSQL): a few rounds of
    # poll.concurrency, so the daemons share a large due batch.
    claim_batch: int | None = Field(default=None, ge=1, le=100_000)


class FeedConfig(_Model):
    """One feed to poll."""

    name: Name
    url: HttpUrl
    tags: Tags = ()
    interval: Duration | None = None
    quiet_after: Duration | None = None
    fulltext: FulltextMode | None = None
    # What the URL serves; auto: told apart by content (RSS/Atom/RDF, JSON
    # Feed, a news sitemap). `html` reads a listing page with the selectors.
    type: SourceType = "auto"
    items: Css | None = None
    title: Css | None = None
    link: Css | None = None
    date: Css | None = None
    summary: Css | None = None

    @model_validator(mode="after")
    def _selectors_fit(self) -> FeedConfig:
        given = [k for k in ("items", "title", "link", "date", "summary") if getattr(self, k) is not None]
        if self.type == "html" and self.items is None:
            raise ValueError('type: html needs an `items` selector (one match per article, e.g. "article.teaser")')
        if self.type != "html" and given:
            raise ValueError(f"{', '.join(given)} apply to `type: html` sources only")
        return self


def _cron(value: str) -> str:
    from monitor.core.schedule import cron_trigger

    try:
        cron_trigger(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a cron schedule: {exc}") from None
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone (use e.g. UTC, America/Mexico_City)") from None
    return value


Cron = Annotated[str, AfterValidator(_cron)]
TimeZone = Annotated[str, AfterValidator(_timezone)]


class ChannelConfig(_Model):
    """One alert destination: one or more apprise URLs, and how alerts reach it.

    instant: each hit as it is found (at most `max_per_hour`, the overflow in
    summaries). digest: one message per `schedule` time with every hit since
    the last one.
    """

    urls: Annotated[tuple[SecretUrl, ...], AfterValidator(_non_empty)]
    mode: Literal["instant", "digest"] = "instant"
    schedule: Cron | None = None
    timezone: TimeZone = "UTC"
    min_score: float | None = Field(default=None, ge=0)
    max_per_hour: int | None = Field(default=None, ge=1)
    template: str | None = None

    @model_validator(mode="after")
    def _mode_fits(self) -> ChannelConfig:
        if self.mode == "digest" and not self.schedule:
            raise ValueError('a digest channel needs a schedule, e.g. "0 7,13,19 * * *"')
        if self.mode == "instant" and self.schedule:
            raise ValueError("schedule applies to digest channels only (set mode: digest)")
        if self.mode == "digest" and self.max_per_hour is not None:
            raise ValueError("max_per_hour applies to instant channels only")
        return self


class EntityConfig(_Model):
    """A person, organisation or place with many spellings.

    `names` always count; `aliases` count only when one of the `context`
    phrases occurs somewhere in the article.
    """

    names: tuple[Keyword, ...] = ()
    aliases: tuple[Keyword, ...] = ()
    context: tuple[Keyword, ...] = ()
    spike: SpikeOverride | None = None

    @model_validator(mode="after")
    def _usable(self) -> EntityConfig:
        if not self.names and not self.aliases:
            raise ValueError("needs names or aliases")
        if self.aliases and not self.context:
            raise ValueError("aliases count only with context phrases; add context or move them to names")
        return self


class WatchlistConfig(_Model):
    """One watchlist: what to look for, where, and whom to tell.

    What to look for is the OR of `keywords` (literal words and phrases),
    `query` (the query language) and `entities` (names from `entities:`).
    """

    name: Name
    keywords: tuple[Keyword, ...] = ()
    query: str | None = None
    entities: tuple[Name, ...] = ()
    tags: Tags = ()
    channels: tuple[Name, ...] = ()
    spike: SpikeOverride | None = None

    @model_validator(mode="after")
    def _has_something_to_match(self) -> WatchlistConfig:
        if not self.keywords and not (self.query or "").strip() and not self.entities:
            raise ValueError("needs keywords, a query or entities to match")
        return self

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [value]
        return value


class Settings(_Model):
    """The whole validated configuration."""

    database: str = "sqlite:///data/monitor.db"
    poll: PollSettings = PollSettings()
    delivery: DeliverySettings = DeliverySettings()
    dedup: DedupSettings = DedupSettings()
    web: WebSettings = WebSettings()
    retention: RetentionSettings = RetentionSettings()
    cluster: ClusterSettings = ClusterSettings()
    fulltext: FulltextSettings = FulltextSettings()
    spikes: SpikeSettings = SpikeSettings()
    feeds: tuple[FeedConfig, ...] = ()
    channels: dict[Name, ChannelConfig] = {}
    entities: dict[Name, EntityConfig] = {}
    watchlists: tuple[WatchlistConfig, ...] = ()
    admin_channel: Name | None = None
    source: str = Field(default="", exclude=True)

    def feed_interval(self, feed: FeedConfig) -> float:
        return feed.interval if feed.interval is not None else self.poll.interval

    def fulltext_mode(self, feed: FeedConfig) -> str:
        """auto, always or never: the feed's own `fulltext`, else `poll.fulltext`."""
        return feed.fulltext or self.poll.fulltext

    def quiet_after(self, feed: FeedConfig) -> float:
        return feed.quiet_after if feed.quiet_after is not None else self.poll.quiet_after
