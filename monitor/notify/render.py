"""How an alert reads, per medium. Pure: hit in, title and body out.

Feed text is untrusted. For Slack-like markdown the control sequences that
would ping or link (`<!channel>`, `<@U123>`, `<http://x|y>`, `&`, `<`, `>`)
are neutralised; titles never carry line breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from monitor.models import HitRecord

MAX_TITLE = 250
MAX_BODY = 3500


class Medium(Enum):
    TEXT = "text"
    SLACK = "slack"


@dataclass(frozen=True)
class Message:
    """A rendered alert: what apprise is given."""

    title: str
    body: str
    body_format: str  # apprise NotifyFormat value: "text" or "markdown"


def medium_for(url: str) -> Medium:
    """Slack (and Slack-compatible webhooks) get markdown; everything else plain text."""
    lowered = url.strip().lower()
    if lowered.startswith("slack://") or "hooks.slack.com/" in lowered:
        return Medium.SLACK
    return Medium.TEXT


def one_line(text: str) -> str:
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    """Cut at `limit` characters with an ellipsis (str slicing never splits a character)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def slack_escape(text: str) -> str:
    """Neutralise Slack mrkdwn control characters in untrusted text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_hit(hit: HitRecord, medium: Medium) -> Message:
    title = truncate(one_line(f"[{hit.watchlist}] {hit.title or '(untitled)'}"), MAX_TITLE)
    published = hit.published.strftime("%Y-%m-%d %H:%M UTC")
    terms = ", ".join(hit.terms)
    if medium is Medium.SLACK:
        esc = slack_escape
        link = f"<{esc(hit.link)}|{esc(one_line(hit.title) or 'article')}>" if hit.link else esc(hit.title)
        lines = [
            f"*{esc(hit.watchlist)}*: {link}",
            f"_{esc(hit.feed)}_ · {published}",
            f"Matched: {esc(terms)}",
            f"> {esc(one_line(hit.snippet))}" if hit.snippet else "",
        ]
        return Message(esc(title), truncate("\n".join(l for l in lines if l), MAX_BODY), "markdown")
    lines = [
        one_line(hit.title),
        hit.link or "(no link)",
        f"Source: {hit.feed} · {published}",
        f"Watchlist: {hit.watchlist}",
        f"Matched: {terms}",
        "",
        one_line(hit.snippet),
    ]
    return Message(title, truncate("\n".join(lines), MAX_BODY), "text")


def render_console(hit: HitRecord) -> str:
    """One hit as a console line (watchlists without channels)."""
    terms = ", ".join(hit.terms)
    return f"HIT [{hit.watchlist}] {one_line(hit.title)} — {hit.feed} — {hit.link or '(no link)'} (matched: {terms})"
