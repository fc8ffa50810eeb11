"""How alerts, digests and storm summaries read, per medium. Pure: hits in,
title and body out (Jinja2 templates shipped in ``notify/templates``).

Mediums, by channel URL scheme (`medium_for`): email (``mailto(s)://`` and
apprise's mail providers) → HTML, which apprise sends as multipart/alternative
with a text part it derives; Slack → Slack-safe markdown; Discord, Mattermost,
Teams, Rocket.Chat, Zulip and similar → chat markdown; Matrix, Telegram,
Mastodon and the other services with mentions or auto-linking clients → chat
text; anything else → plain text. Feed text is untrusted: it is cut to size,
then escaped for the medium by `templating.escaper` before any template sees
it (HTML templates autoescape on top), so a feed can never inject HTML, ping
anyone or add a link other than the article's own (chat mediums: mentions
neutralised, URLs and bare domains defanged). Snippet highlights come from
the stored marks, never from the text: ``<mark>`` in HTML, bold in markdown,
none in plain text.

A channel may set its own template; its file name sets its format
(``*.html.j2`` HTML, ``*.md.j2``/``*.slack.j2`` markdown, else text). One
template serves all three kinds; context variables:

* ``kind``: "alert" | "digest" | "summary"; ``medium``: "email" | "slack" |
  "markdown" | "chat" | "text"; ``channel``: channel name; ``tz``: display zone name.
* ``hit``: the HitView of an alert (None otherwise): ``id watchlist title
  link feed terms snippet snippet_parts score published found_at
  published_text`` (text fields already escaped; ``link`` only if http(s)).
* ``hits``: HitViews shown; ``groups``: Group(``watchlist count hits more``),
  ``more`` = hits left out; ``total``: hit count.
* ``window_start``/``window_end`` (aware UTC datetimes, None for an alert),
  ``window`` ("07:00–13:00 America/Mexico_City"), ``span`` ("in the last hour").
* helpers ``link(url, label)``, ``fmt_time(dt, short=False)``; filters
  ``highlight`` (for ``snippet_parts``), ``md``, ``slack``, ``plain``.

Titles are built here, not in templates: one line, naming the watchlist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Template

from monitor.models import HitRecord, Snippet
from monitor.notify import templating as tpl
from monitor.notify.templating import Highlighted, chat_safe
from monitor.notify.templating import md_safe as md_safe  # re-exported for callers
from monitor.notify.templating import one_line as one_line
from monitor.notify.templating import slack_safe as slack_safe
from monitor.notify.templating import truncate as truncate

log = logging.getLogger(__name__)


class Medium(Enum):
    TEXT = "text"
    SLACK = "slack"
    MARKDOWN = "markdown"  # Discord, Mattermost, Teams, Rocket.Chat, …
    CHAT = "chat"  # plain text to a service with mentions: Matrix, Telegram, Mastodon, …
    EMAIL = "email"


@dataclass(frozen=True)
class Message:
    """A rendered message: what apprise is given."""

    title: str
    body: str
    body_format: str  # apprise NotifyFormat value: "text", "html" or "markdown"


@dataclass(frozen=True)
class Limits:
    """Characters allowed in a title and a body."""

    title: int
    body: int


# Slack: a section block holds 3,000 characters, a header 150. Discord: 2,000
# including the title. `sender.limits_for(url)` narrows these to the apprise
# plugin's own body_maxlen/title_maxlen.
DEFAULT_LIMITS = {
    Medium.EMAIL: Limits(200, 100_000),
    Medium.SLACK: Limits(150, 3_000),
    Medium.MARKDOWN: Limits(250, 2_000),
    Medium.CHAT: Limits(250, 4_000),
    Medium.TEXT: Limits(250, 4_000),
}

_EMAIL = {
    "mailto",
    "mailtos",
    "sendgrid",
    "ses",
    "mailgun",
    "sparkpost",
    "postmark",
    "resend",
    "brevo",
    "smtp2go",
    "mailersend",
    "o365",
    "azure",
    "sendpulse",
}
_CHAT_MARKDOWN = {
    "discord",
    "mmost",
    "mmosts",
    "msteams",
    "msteam",
    "rocket",
    "rockets",
    "workflow",
    "workflows",
    "gchat",
    "guilded",
    "revolt",
    "ryver",
    "twist",
    "webex",
    "wxteams",
    "zulip",
    "nctalk",
    "nctalks",
    "fluxer",
    "fluxers",
}
# Plain-text services whose messages can mention someone (`@room`,
# `@username`, `@user@instance`, `<at user_id="all">`, `[CQ:at,qq=all]`) or
# whose clients link bare domains: chat rooms, social networks, messengers.
_CHAT_TEXT = {
    "matrix",
    "matrixs",
    "tgram",
    "mastodon",
    "mastodons",
    "toot",
    "toots",
    "misskey",
    "misskeys",
    "bsky",
    "bluesky",
    "x",
    "twitter",
    "tweet",
    "nostr",
    "reddit",
    "github",
    "jira",
    "irc",
    "ircs",
    "signal",
    "signals",
    "line",
    "kook",
    "lark",
    "feishu",
    "dingtalk",
    "wecombot",
    "qq",
    "onebot",
    "onebots",
    "humhub",
    "humhubs",
    "session",
    "sessions",
    "sogs",
    "deltachat",
    "deltachats",
    "threema",
    "flock",
    "cliq",
    "zcliq",
    "zohocliq",
    "stackfield",
    "synology",
    "synologys",
    "groupme",
    "whatsapp",
    "awswhatsapp",
    "whapi",
    "evolution",
    "evolutions",
    "viber",
    "bale",
    "zalo",
    "kakaotalk",
    "kakao",
}


def medium_for(url: str) -> Medium:
    """The medium a channel URL gets, by its scheme (and Slack/Discord webhook hosts)."""
    lowered = url.strip().lower()
    scheme = lowered.split("://", 1)[0] if "://" in lowered else ""
    host = urlsplit(lowered).hostname or "" if scheme in ("http", "https") else ""
    if scheme == "slack" or host == "hooks.slack.com":
        return Medium.SLACK
    if scheme in _EMAIL:
        return Medium.EMAIL
    if scheme in _CHAT_MARKDOWN or host in ("discord.com", "discordapp.com"):
        return Medium.MARKDOWN
    if scheme in _CHAT_TEXT:
        return Medium.CHAT
    return Medium.TEXT


@dataclass(frozen=True)
class HitView:
    """A hit as templates see it: untrusted text cut and escaped for the medium."""

    id: int
    watchlist: str
    title: str
    link: str | None
    feed: str
    terms: tuple[str, ...]
    snippet: str
    snippet_parts: Highlighted
    score: float
    published: datetime
    found_at: datetime
    published_text: str
    # The story's outlets (1: no copies), and the others' names, escaped.
    outlets: int = 1
    also: tuple[str, ...] = ()
    also_more: int = 0
    # An escalation: the story's follow-up ("now reported by N outlets").
    escalation: bool = False


@dataclass(frozen=True)
class Group:
    """The hits of one watchlist in a digest or summary; `more` were left out."""

    watchlist: str
    count: int
    hits: tuple[HitView, ...]
    more: int


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _cut_runs(runs: tuple[tuple[str, bool], ...], limit: int) -> tuple[tuple[str, bool], ...]:
    out, used = [], 0
    for text, is_match in runs:
        if used + len(text) > limit:
            out.append((truncate(text, max(limit - used, 1)), is_match))
            break
        out.append((text, is_match))
        used += len(text)
    return tuple(out)


def _view(hit: HitRecord, target: str, fmt: str, zone: tzinfo | None, title_len: int, snippet_len: int) -> HitView:
    esc = tpl.escaper(target, fmt)
    shown = hit.snippets[0] if hit.snippets else Snippet(hit.snippet.strip())
    runs = tpl.snippet_runs(shown, target, fmt) if snippet_len > 0 else ()
    runs = _cut_runs(runs, snippet_len)
    parts = Highlighted((tpl.escape_run(esc, text), is_match) for text, is_match in runs)
    link = tpl.http_url(hit.link)
    if link is not None and target in (tpl.T_SLACK, tpl.T_MARKDOWN):
        link = tpl.chat_link(link, target)
    terms = [esc(truncate(one_line(term), 60)) for term in hit.terms[:20]]
    return HitView(
        id=hit.id,
        watchlist=esc(truncate(one_line(hit.watchlist), 100)),
        title=esc(truncate(one_line(hit.title), title_len)) or "(untitled)",
        link=link,
        feed=esc(truncate(one_line(hit.feed), 100)),
        terms=tuple(terms) + (("…",) if len(hit.terms) > 20 else ()),
        snippet=str(parts),
        snippet_parts=parts,
        score=hit.score,
        published=tpl.as_utc(hit.published),
        found_at=tpl.as_utc(hit.found_at),
        published_text=tpl.time_formatter(zone)(hit.published),
        outlets=hit.outlets,
        also=tuple(esc(truncate(one_line(src.feed), 60)) for src in hit.also_reported_by[:ALSO_SHOWN]),
        also_more=max(0, len(hit.also_reported_by) - ALSO_SHOWN),
    )


ALSO_SHOWN = 5


def _newest_first(hit: HitRecord) -> tuple[datetime, int]:
    return (tpl.as_utc(hit.published), hit.id)


def _by_watchlist(hits: Sequence[HitRecord]) -> list[tuple[str, list[HitRecord]]]:
    """Groups, biggest first (then by name); hits newest first within a group."""
    groups: dict[str, list[HitRecord]] = {}
    for hit in hits:
        groups.setdefault(hit.watchlist, []).append(hit)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [(name, sorted(members, key=_newest_first, reverse=True)) for name, members in ordered]


def _allocate(sizes: Sequence[int], keep: int) -> list[int]:
    """How many of each group to show when only `keep` hits fit: round robin."""
    shown = [0] * len(sizes)
    while keep > 0 and any(s < size for s, size in zip(shown, sizes, strict=True)):
        for index, size in enumerate(sizes):
            if keep > 0 and shown[index] < size:
                shown[index] += 1
                keep -= 1
    return shown


def _counts(groups: Sequence[tuple[str, Sequence[HitRecord]]]) -> str:
    return ", ".join(f"{name} {len(members)}" for name, members in groups)


# -- the rendering core ---------------------------------------------------------------------

Builder = Callable[[str, str, int], dict[str, Any]]  # (target, fmt, level) -> context


def _base_context(kind: str, target: str, fmt: str, zone: tzinfo | None, channel: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "medium": target,
        "format": fmt,
        "channel": tpl.escaper(target, fmt)(channel),
        "tz": tpl.zone_name(zone),
        "hit": None,
        "hits": [],
        "groups": [],
        "total": 0,
        "window_start": None,
        "window_end": None,
        "window": "",
        "span": "",
        "fmt_time": tpl.time_formatter(zone),
        "link": tpl.link_helper(target, fmt),
    }


def _fit(template: Template, build: Callable[[int], dict[str, Any]], top: int, limit: int) -> str:
    """Render at the richest level (0..top) whose body fits `limit` (binary search)."""
    body = template.render(build(top)).strip()
    if len(body) <= limit:
        return body
    low, high, best = 0, top - 1, None
    while low <= high:
        mid = (low + high) // 2
        candidate = template.render(build(mid)).strip()
        if len(candidate) <= limit:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    if best is None:  # even the smallest form is too long: a last-resort hard cut
        log.warning("message still over %d characters at its smallest; cutting it", limit)
        best = truncate(template.render(build(0)).strip(), limit)
    return best


def _render(
    kind: str, medium: Medium, template: str | Path | None, build: Builder, top: int, limits: Limits
) -> tuple[str, str]:
    """(body, body_format): the channel's template if it works, else the shipped one."""
    target = medium.value
    if template is not None:
        try:
            fmt = tpl.template_format(template)
            chosen = tpl.user_template(template, target)
            body = _fit(chosen, lambda level: build(target, fmt, level), top, limits.body)
        except Exception as exc:  # noqa: BLE001 - a template bug must not lose the alert
            log.warning("template %s failed (%s); using the built-in %s template", template, tpl.describe(exc), kind)
        else:
            if body:
                return body, fmt
            log.debug("template %s renders nothing for a %s; using the built-in one", template, kind)
    fmt = tpl.shipped_format(target)
    shipped = tpl.shipped_template(kind, target)
    return _fit(shipped, lambda level: build(target, fmt, level), top, limits.body), fmt


def _title(text: str, limits: Limits) -> str:
    return truncate(one_line(text), limits.title)


# -- public API --------------------------------------------------------------------------------

# Alert levels, smallest first: (title characters, snippet characters).
_ALERT_LEVELS = ((60, 0), (120, 0), (200, 120), (300, 300), (300, 600))


def _alert_builder(hit: HitRecord, zone: tzinfo | None, channel: str, escalation: bool = False) -> Builder:
    def build(target: str, fmt: str, level: int) -> dict[str, Any]:
        view = replace(_view(hit, target, fmt, zone, *_ALERT_LEVELS[level]), escalation=escalation)
        group = Group(view.watchlist, 1, (view,), 0)
        return _base_context("alert", target, fmt, zone, channel) | {
            "hit": view,
            "hits": [view],
            "groups": [group],
            "total": 1,
        }

    return build


def render_alert(
    hit: HitRecord,
    medium: Medium,
    *,
    tz: str | tzinfo | None = None,
    template: str | Path | None = None,
    limits: Limits | None = None,
    channel: str = "",
    escalation: bool = False,
) -> Message:
    """One hit as one message: subject `[watchlist] title`.

    `escalation`: the story's one follow-up, subject `[watchlist] Now
    reported by N outlets: title`.
    """
    limits = limits or DEFAULT_LIMITS[medium]
    zone = tpl.display_zone(tz)
    build = _alert_builder(hit, zone, channel, escalation)
    body, fmt = _render("alert", medium, template, build, len(_ALERT_LEVELS) - 1, limits)
    esc = tpl.escaper(medium.value, tpl.TEXT)
    lead = f"Now reported by {hit.outlets} outlets: " if escalation else ""
    title = f"[{esc(hit.watchlist)}] {lead}{esc(truncate(one_line(hit.title), 300)) or '(untitled)'}"
    return Message(_title(title, limits), body, fmt)


def render_hit(hit: HitRecord, medium: Medium, *, tz: str | tzinfo | None = None) -> Message:
    """Kept for older callers: `render_alert` with the shipped template."""
    return render_alert(hit, medium, tz=tz)


def _many_builder(
    kind: str, channel: str, hits: Sequence[HitRecord], start: datetime, end: datetime, zone: tzinfo | None
) -> Builder:
    grouped = _by_watchlist(hits)
    if kind == "summary":  # the top hits by score, newest first among equals
        grouped = [(name, sorted(m, key=lambda h: (h.score, _newest_first(h)), reverse=True)) for name, m in grouped]

    def build(target: str, fmt: str, level: int) -> dict[str, Any]:
        if kind == "summary":
            shown = [min(level, len(members)) for _, members in grouped]
        else:
            shown = _allocate([len(members) for _, members in grouped], level)
        title_len, snippet_len = (200, 240) if kind == "digest" else (200, 0)
        esc = tpl.escaper(target, fmt)
        groups = [
            Group(
                esc(truncate(one_line(name), 100)),
                len(members),
                tuple(_view(h, target, fmt, zone, title_len, snippet_len) for h in members[:count]),
                len(members) - count,
            )
            for (name, members), count in zip(grouped, shown, strict=True)
        ]
        return _base_context(kind, target, fmt, zone, channel) | {
            "hits": [view for group in groups for view in group.hits],
            "groups": groups,
            "total": len(hits),
            "window_start": tpl.as_utc(start),
            "window_end": tpl.as_utc(end),
            "window": tpl.window_text(start, end, zone),
            "span": tpl.span_text(start, end, zone),
        }

    return build


def render_digest(
    channel: str,
    hits: Sequence[HitRecord],
    window_start: datetime,
    window_end: datetime,
    medium: Medium,
    *,
    tz: str | tzinfo | None = None,
    template: str | Path | None = None,
    limits: Limits | None = None,
) -> Message:
    """Every hit of a digest window in one message, grouped by watchlist, newest
    first; hits that do not fit are counted ("and 23 more")."""
    limits = limits or DEFAULT_LIMITS[medium]
    zone = tpl.display_zone(tz)
    build = _many_builder("digest", channel, hits, window_start, window_end, zone)
    body, fmt = _render("digest", medium, template, build, len(hits), limits)
    esc = tpl.escaper(medium.value, tpl.TEXT)
    counts = esc(_counts(_by_watchlist(hits)))
    title = f"monitor digest: {_plural(len(hits), 'hit')}" + (f" ({counts})" if hits else "")
    return Message(_title(title, limits), body, fmt)


def render_summary(
    channel: str,
    hits: Sequence[HitRecord],
    window_start: datetime,
    window_end: datetime,
    medium: Medium,
    *,
    tz: str | tzinfo | None = None,
    template: str | Path | None = None,
    limits: Limits | None = None,
    top: int = 5,
) -> Message:
    """Storm control overflow: "37 more hits for cartels in the last hour" per
    watchlist, each with its `top` best-scoring hits linked."""
    limits = limits or DEFAULT_LIMITS[medium]
    zone = tpl.display_zone(tz)
    build = _many_builder("summary", channel, hits, window_start, window_end, zone)
    body, fmt = _render("summary", medium, template, build, top, limits)
    esc = tpl.escaper(medium.value, tpl.TEXT)
    grouped = _by_watchlist(hits)
    more = _plural(len(hits), "more hit")
    span = tpl.span_text(window_start, window_end, zone)
    if len(grouped) == 1:
        title = f"[{esc(grouped[0][0])}] {more} {span}"
    else:
        title = f"monitor: {more} {span} ({esc(_counts(grouped))})"
    return Message(_title(title, limits), body, fmt)


def render_console(hit: HitRecord) -> str:
    """One hit as a console line (watchlists without channels)."""
    terms = ", ".join(one_line(term) for term in hit.terms)
    return (
        f"HIT [{one_line(hit.watchlist)}] {one_line(hit.title)} — {one_line(hit.feed)} — "
        f"{tpl.http_url(hit.link) or one_line(hit.link or '') or '(no link)'} (matched: {terms})"
    )


def check_template(path: str | Path) -> list[str]:
    """Problems of a channel's template, each with its line when known; [] if fine.

    Loads the template and renders it for each kind with sample data, so a
    syntax error (`line 12: unexpected '}'`) and a misspelt field
    (`line 3: 'hit' has no attribute 'tittle'`) both show. Never raises.
    """
    if not Path(path).expanduser().is_file():
        return [f"file not found: {path}"]
    fmt = tpl.template_format(path)
    target = {tpl.HTML: tpl.T_EMAIL, tpl.MARKDOWN: tpl.T_SLACK}.get(fmt, tpl.T_TEXT)
    try:
        template = tpl.user_template(path, target)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        line = tpl.error_line(exc, None)
        return [(f"line {line}: " if line else "") + tpl.describe(exc)]
    hits = tpl.sample_hits()
    end = max(hit.found_at for hit in hits) + timedelta(minutes=5)
    start = end - timedelta(hours=1)
    zone = tpl.display_zone("America/Mexico_City")
    builders = {
        "alert": (_alert_builder(hits[0], zone, "desk"), len(_ALERT_LEVELS) - 1),
        "digest": (_many_builder("digest", "desk", hits, start, end, zone), len(hits)),
        "summary": (_many_builder("summary", "desk", hits, start, end, zone), 5),
    }
    found: dict[str, list[str]] = {}
    empty: list[str] = []
    for kind, (build, level) in builders.items():
        try:
            body = template.render(build(target, fmt, level))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            line = tpl.error_line(exc, template)
            names = (("HitView", "hit"), ("Group", "group"))
            problem = (f"line {line}: " if line else "") + tpl.describe(exc, names)
            if "'None' has no attribute" in problem:
                problem += " (hit is only set for alerts: test kind == 'alert')"
            found.setdefault(problem, []).append(kind)
            continue
        if not body.strip():
            empty.append(kind)
    if len(empty) == len(builders):  # a template for some kinds only is fine: the rest are built in
        found["renders an empty message"] = empty
    return [
        problem if len(kinds) == len(builders) else f"{problem} (in {' and '.join(map(_a, kinds))})"
        for problem, kinds in found.items()
    ]


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def render_notice(subject: str, body: str, medium: Medium) -> Message:
    """An operational notice (a feed failing or recovered) for `medium`.

    Its text quotes what a feed's server said (an error reason, a URL), so
    on chat media every line is made inert like feed text: no mentions, no
    links.
    """
    inert = {Medium.SLACK: slack_safe, Medium.MARKDOWN: md_safe, Medium.CHAT: chat_safe}.get(medium)
    if inert is not None:
        return Message(inert(subject), "\n".join(inert(line) for line in body.splitlines()), "text")
    return Message(" ".join(subject.split()), body, "text")
