"""config.yaml → validated, frozen settings.

Owns the file format: where the file is found, `${VAR}` substitution from the
environment, validation with pydantic, and turning every problem into one
line that names its place (`feeds[3].url: not an http(s) URL`). Nothing else
reads the file or the environment for settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.core.query import QueryError, check_query
from monitor.core.text import words
from monitor.errors import ConfigError

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "MONITOR_CONFIG"

# --- durations -------------------------------------------------------------

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> float:
    """Seconds in a duration such as 90s, 15m, 2h, 7d, or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ValueError(f"{str(value)!r} is not a duration (use e.g. 90s, 15m, 2h, 1d)")
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact form of a duration: 900 → 15m."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]

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


class PollSettings(_Model):
    """How feeds are fetched."""

    interval: Duration = 900.0
    min_interval: Duration = 300.0
    max_interval: Duration = 86400.0
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

    @model_validator(mode="after")
    def _bounds(self) -> PollSettings:
        if self.min_interval > self.max_interval:
            raise ValueError("min_interval is longer than max_interval")
        return self


class DeliverySettings(_Model):
    """How alerts are sent, retried and summarised."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_delay: Duration = 60.0
    max_retry_delay: Duration = 3600.0
    # A send claimed longer ago than this belongs to a process that died.
    claim_timeout: Duration = 300.0
    # Storm control: how long overflow hits wait to be summarised together.
    summary_delay: Duration = 600.0


class FeedConfig(_Model):
    """One feed to poll."""

    name: Name
    url: HttpUrl
    tags: Tags = ()
    interval: Duration | None = None
    quiet_after: Duration | None = None


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
            raise ValueError("a digest channel needs a schedule, e.g. \"0 7,13,19 * * *\"")
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
    feeds: tuple[FeedConfig, ...] = ()
    channels: dict[Name, ChannelConfig] = {}
    entities: dict[Name, EntityConfig] = {}
    watchlists: tuple[WatchlistConfig, ...] = ()
    admin_channel: Name | None = None
    source: str = Field(default="", exclude=True)

    def feed_interval(self, feed: FeedConfig) -> float:
        return feed.interval if feed.interval is not None else self.poll.interval

    def quiet_after(self, feed: FeedConfig) -> float:
        return feed.quiet_after if feed.quiet_after is not None else self.poll.quiet_after


# --- loading -------------------------------------------------------------------

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def find_config(path: str | os.PathLike[str] | None) -> Path:
    """The config file to use: --config, then $MONITOR_CONFIG, then ./config.yaml."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(DEFAULT_CONFIG)


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, substitute, validate. Raises ConfigError with one line per problem."""
    file = find_config(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot read: {exc}"]) from None
    return parse_config(text, source=str(file), environ=environ)


def parse_config(
    text: str, source: str = DEFAULT_CONFIG, environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate config text; see `load_config`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source}: {where}invalid YAML: {problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys"])
    problems: list[str] = []
    raw = _substitute(raw, (), environ if environ is not None else os.environ, problems)
    raw = _expand_opml(raw, source, problems)
    settings = None
    try:
        settings = Settings.model_validate({**raw, "source": source})
    except ValidationError as exc:
        # A value whose variable is missing was already reported; don't
        # report it again as whatever the empty value fails.
        reported = {line.split(": ", 1)[0] for line in problems}
        problems.extend(e for e in _format_errors(exc) if e.split(": ", 1)[0] not in reported)
    problems.extend(_cross_check(raw))
    if settings is not None and not problems:
        problems.extend(_check_templates(settings))
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


def template_path(settings: Settings, template: str) -> Path:
    """A channel template's path: relative ones are relative to the config file."""
    path = Path(template).expanduser()
    if path.is_absolute() or not settings.source:
        return path
    return Path(settings.source).parent / path


def _check_templates(settings: Settings) -> Iterator[str]:
    """Render each user template with sample data; report problems with their line."""
    from monitor.notify.render import check_template  # late: notify is an edge

    for name, channel in settings.channels.items():
        if channel.template:
            for problem in check_template(template_path(settings, channel.template)):
                yield f"channels.{name}.template: {problem}"


def _expand_opml(raw: dict[str, Any], source: str, problems: list[str]) -> dict[str, Any]:
    """Replace each `- opml: FILE` entry of `feeds:` by the feeds that file lists.

    The file is relative to the config file. `tags:` and `interval:` on the
    entry apply to every feed from it. A feed whose URL the list already has
    is skipped; a name already taken gets a suffix.
    """
    feeds = raw.get("feeds")
    if not isinstance(feeds, list) or not any(isinstance(f, dict) and "opml" in f for f in feeds):
        return raw
    from monitor.fetch.opml import OpmlError, merge_feeds, read_opml  # late: fetch is an edge

    expanded: list[Any] = []
    known = [(str(f.get("name", "")), str(f.get("url", ""))) for f in feeds if isinstance(f, dict) and "url" in f]
    for i, item in enumerate(feeds):
        if not (isinstance(item, dict) and "opml" in item):
            expanded.append(item)
            continue
        extra = set(item) - {"opml", "tags", "interval", "quiet_after"}
        if extra:
            problems.extend(f"feeds[{i}].{key}: unknown key for an OPML entry" for key in sorted(extra))
        path = Path(str(item["opml"])).expanduser()
        if not path.is_absolute():
            path = Path(source).parent / path
        try:
            result = read_opml(path.read_bytes(), str(path))
        except OSError as exc:
            problems.append(f"feeds[{i}].opml: cannot read {path}: {exc.strerror or exc}")
            continue
        except OpmlError as exc:
            problems.append(f"feeds[{i}].opml: {exc.reason}")
            continue
        added, _skipped = merge_feeds(known, result.feeds)
        tags = _strings(item.get("tags"))
        for feed in added:
            entry: dict[str, Any] = {"name": feed.name, "url": feed.url, "tags": list(dict.fromkeys([*feed.tags, *tags]))}
            for key in ("interval", "quiet_after"):
                if key in item:
                    entry[key] = item[key]
            expanded.append(entry)
            known.append((feed.name, feed.url))
    return {**raw, "feeds": expanded}


def _substitute(
    node: Any, loc: tuple[str | int, ...], env: Mapping[str, str], problems: list[str]
) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, (*loc, str(k)), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, (*loc, i), env, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def replace(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        problems.append(f"{format_loc(loc)}: environment variable {name} is not set")
        return ""

    return _ENV_RE.sub(replace, node)


def format_loc(loc: tuple[str | int, ...]) -> str:
    """('watchlists', 1, 'channels', 0) → 'watchlists[1].channels[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_MESSAGES = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
}


def _format_errors(exc: ValidationError) -> Iterator[str]:
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        if kind == "value_error":
            message = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        elif kind in _MESSAGES:
            message = _MESSAGES[kind]
        elif kind == "too_short":
            message = "must not be empty"
        else:
            message = err["msg"][0].lower() + err["msg"][1:]
        if kind not in ("missing", "extra_forbidden") and "input" in err and _showable(err["input"]):
            if repr(err["input"]) not in message and str(err["input"]) not in message:
                message = f"{message} (got {err['input']!r})"
        yield f"{format_loc(loc)}: {message}"


def _showable(value: object) -> bool:
    return isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) < 60)


def _cross_check(raw: Mapping[str, Any]) -> Iterator[str]:
    """Problems that span keys: duplicate names and URLs, unknown channels, unused tags.

    Runs on the raw data so that these are reported together with field errors.
    """
    feeds = _dicts(raw.get("feeds"))
    watchlists = _dicts(raw.get("watchlists"))
    raw_channels = raw.get("channels")
    channels: dict[Any, Any] = raw_channels if isinstance(raw_channels, dict) else {}
    yield from _duplicates("feeds", "name", feeds, "feed name")
    yield from _duplicates("feeds", "url", feeds, "URL")
    yield from _duplicates("watchlists", "name", watchlists, "watchlist name")
    admin = raw.get("admin_channel")
    if isinstance(admin, str) and admin not in channels:
        known = ", ".join(sorted(map(str, channels))) or "none defined"
        yield f"admin_channel: unknown channel {admin!r} (known: {known})"
    feed_tags = {t for f in feeds.values() for t in _strings(f.get("tags"))}
    raw_entities = raw.get("entities")
    entity_names = set(map(str, raw_entities)) if isinstance(raw_entities, dict) else set()
    for i, watchlist in watchlists.items():
        query = watchlist.get("query")
        if isinstance(query, str) and query.strip():
            try:
                check_query(query, entity_names)
            except QueryError as exc:
                yield f"watchlists[{i}].query: {exc}"
        for j, entity in enumerate(_strings(watchlist.get("entities"))):
            if entity not in entity_names:
                known = ", ".join(sorted(entity_names)) or "none defined"
                yield f"watchlists[{i}].entities[{j}]: unknown entity {entity!r} (known: {known})"
        for j, channel in enumerate(_strings(watchlist.get("channels"))):
            if channel not in channels:
                known = ", ".join(sorted(map(str, channels))) or "none defined"
                yield f"watchlists[{i}].channels[{j}]: unknown channel {channel!r} (known: {known})"
        for j, tag in enumerate(_strings(watchlist.get("tags"))):
            if feeds and tag not in feed_tags:
                yield f"watchlists[{i}].tags[{j}]: no feed carries the tag {tag!r}"


def _dicts(value: object) -> dict[int, dict[str, Any]]:
    if not isinstance(value, list):
        return {}
    return {i: item for i, item in enumerate(value) if isinstance(item, dict)}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else "" for v in value]
    return []


def _duplicates(
    section: str, key: str, items: dict[int, dict[str, Any]], what: str
) -> Iterator[str]:
    seen: dict[str, int] = {}
    for i, item in items.items():
        value = item.get(key)
        if not isinstance(value, str):
            continue
        if value in seen:
            yield f"{section}[{i}].{key}: duplicate {what} {value!r} (also {section}[{seen[value]}])"
        seen.setdefault(value, i)
