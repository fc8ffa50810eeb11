"""How an alert reads, per medium. Pure: hit in, title and body out.

Feed text is untrusted. For Slack-like markdown the characters that could
form a mention or a link (`<!channel>`, `<@U123>`, `<http://x|y>`, `&`, `<`,
`>`, `[…](…)`) are replaced by look-alikes, so the only link in an alert is
the article's own; titles never carry line breaks.
"""

from __future__ import annotations

import re
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


# Look-alikes for the characters Slack (and apprise's Slack plugin, which
# restores `<!channel>`, `<@U…>` and `<url|label>` after escaping) would read
# as control sequences. Feed text can then never form a mention or a link.
_SLACK_SAFE = str.maketrans({"<": "‹", ">": "›", "&": "＆", "[": "(", "]": ")", "|": "¦", "`": "'"})


_URL_SCHEME = re.compile(r"\b(h)tt(ps?)://", re.IGNORECASE)


def slack_safe(text: str) -> str:
    """Untrusted text made inert for Slack markdown: no mentions, no links.

    URLs in the text are defanged (hxxp://) so Slack does not auto-link them.
    """
    return _URL_SCHEME.sub(r"\1xx\2://", one_line(text).translate(_SLACK_SAFE))


def _safe_link(url: str) -> str:
    """An http(s) URL with the characters that could end a markdown link encoded."""
    return url.replace(" ", "%20").replace(")", "%29").replace(">", "%3E").replace("|", "%7C")


def render_hit(hit: HitRecord, medium: Medium) -> Message:
    title = truncate(one_line(f"[{hit.watchlist}] {hit.title or '(untitled)'}"), MAX_TITLE)
    published = hit.published.strftime("%Y-%m-%d %H:%M UTC")
    terms = ", ".join(hit.terms)
    if medium is Medium.SLACK:
        safe = slack_safe
        headline = safe(hit.title) or "(untitled)"
        link = f"[{headline}]({_safe_link(hit.link)})" if hit.link else headline
        lines = [
            f"**{safe(hit.watchlist)}**: {link}",
            f"{safe(hit.feed)} · {published}",
            f"Matched: {safe(terms)}",
            f"> {safe(hit.snippet)}" if hit.snippet else "",
        ]
        body = truncate("\n".join(line for line in lines if line), MAX_BODY)
        return Message(truncate(safe(title), MAX_TITLE), body, "markdown")
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
