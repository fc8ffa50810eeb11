"""Jinja2 plumbing for rendering: escapers, cuts, environments, loading, helpers.

Owns the one place where untrusted feed text is made safe for a medium:

* ``plain_safe`` (email, plain-text services without mentions): one line,
  NFC, no control or bidi-override characters.
* ``slack_safe``: plain_safe, then look-alikes for the characters that could
  form a Slack mention or link (``< > & [ ] | ` \\``) and for emphasis marks
  (``* _ ~``: feed text cannot bold itself into a fake highlight or break our
  markup). apprise's Slack plugin restores ``<!channel>``, ``<@U…>`` and
  ``<url|label>``; with no ``<`` left none can be formed.
* ``md_safe`` (Discord, Mattermost, Teams, Rocket.Chat, Zulip…): the same.
* ``chat_safe`` (plain-text chats: Matrix, Telegram, Mastodon, Lark, QQ…):
  plain_safe plus look-alikes for ``< > [ ]`` (``<at …>``, ``<@id>``,
  ``[CQ:at,…]``).
* All three chat escapers then put a zero-width space after every ``@``
  (``@everyone``, ``@here``, ``@channel``, ``@room``, ``@all``,
  ``@user:server`` read the same and ping no one) and `defang` URLs and
  bare domains (``hxxps://evil[.]com``, ``evil[.]com``): chat clients link
  and preview both. The article's own link is written by `link_helper`,
  not escaped, and stays the only link.
* HTML: Jinja autoescape (templates named ``*.html.j2``) on top of plain_safe;
  links only through `link_helper`, with an href only for http(s). Email is
  not defanged: mail clients do not fetch previews, and a domain some of
  them link reads as the place it goes.

The escapers use look-alike characters, never escape sequences, and are
idempotent: text cut before or after escaping is never cut inside an escape.
render.py builds the template context with fields already passed through
`escaper(target, fmt)`; the filters registered here (``md``, ``slack``,
``plain``, ``highlight``) use the same escapers. Snippet highlights come
from the snippet's marks (`snippet_runs`), never from markers in its text.
Environments are cached per (target, format, folder); user templates are
sandboxed with StrictUndefined.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from monitor.models import HitRecord, Snippet

SHIPPED_DIR = Path(__file__).parent / "templates"

# Template formats, chosen by file name, and apprise body formats they map to.
HTML, MARKDOWN, TEXT = "html", "markdown", "text"

# Target dialects (the Medium values of render.py).
T_EMAIL, T_SLACK, T_MARKDOWN, T_TEXT, T_CHAT = "email", "slack", "markdown", "text", "chat"

Escaper = Callable[[str], str]


class MdSafe(str):
    """Markdown/text produced by our own helpers: not escaped again."""


# C0/C1 controls (but tab and newline), and bidi embeddings/overrides/isolates
# that could make a title read differently from what it is.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """`text` NFC-normalised with control and bidi-override characters removed."""
    return _CONTROLS.sub("", unicodedata.normalize("NFC", str(text)))


def one_line(text: str) -> str:
    """Untrusted text as one line: controls removed, whitespace runs collapsed."""
    # Split first so CR/LF/VT/U+2028 become word breaks, not glued words.
    return strip_controls(" ".join(str(text).split()))


plain_safe = one_line


# Look-alikes for the characters Slack (and apprise's Slack plugin, which
# restores `<!channel>`, `<@U…>` and `<url|label>` after escaping) would read
# as control sequences, and for the emphasis marks of markdown and Slack's
# mrkdwn: feed text can never form a mention or a link, and never look like
# our highlights (bold) or break our markup.
_SLACK_SAFE = {
    "<": "‹",
    ">": "›",
    "&": "＆",
    "[": "(",
    "]": ")",
    "|": "¦",
    "`": "'",
    "\\": "＼",
    "*": "∗",
    "_": "＿",
    "~": "∼",
}
_SLACK_TABLE = str.maketrans(_SLACK_SAFE)
_MD_TABLE = _SLACK_TABLE  # Discord, Mattermost, Teams…: the same characters matter
# Plain-text chat (Matrix, Telegram, Mastodon, Lark, QQ…): the brackets of
# `<at user_id="all">`, `<@id>`, `[CQ:at,qq=all]`, `[~user]`.
_CHAT_TABLE = str.maketrans({"<": "‹", ">": "›", "[": "(", "]": ")"})
# Our own defanged dot, kept by the tables unless a "(" (or a "[", which
# becomes one) follows: `[.](url)` would be a markdown link.
_DEFANGED_DOT = re.compile(r"\[\.\](?![(\[])")

# Every "@" gets a zero-width space after it: `@everyone`, `@here`,
# `@channel`, `@room`, `@all`, `@user:server`, `@user@instance`, Zulip's
# `@**all**` all read the same and ping nobody (each service needs the
# mention word right after the "@").
ZWSP = "\u200b"
_AT = re.compile(f"@(?!{ZWSP})")

_URL_SCHEME = re.compile(r"(h)tt(ps?)://", re.IGNORECASE)
# A bare host name as chat clients auto-link it: labels of letters, digits
# and hyphens (any script) joined by dots (or the dots IDNA reads as dots),
# ending in a label of letters (a TLD, `рф`, `xn--p1ai`). Over-matches a
# little ("Node.js"), on purpose: a list of real TLDs would age.
_DOTS = ".\u3002\uff0e\uff61"
_LABEL = r"[^\W_](?:[\w-]{0,62}[^\W_])?"
_TLD = r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
_HOST = re.compile(rf"(?<![\w-])(?:{_LABEL}[{_DOTS}])+{_TLD}(?![\w-])", re.IGNORECASE)
_DOT = re.compile(f"[{_DOTS}]")

Sub = tuple[int, int, str]  # replace text[start:end] by the string


def _defang_subs(text: str) -> list[Sub]:
    """Where `defang` changes `text`: the "tt" of each http(s):// and the dots of each bare host."""
    subs = [(m.start() + 1, m.start() + 3, "xx") for m in _URL_SCHEME.finditer(text)]
    for host in _HOST.finditer(text):
        subs.extend((dot.start(), dot.end(), "[.]") for dot in _DOT.finditer(text, host.start(), host.end()))
    subs.sort()
    return subs


def _apply(text: str, subs: list[Sub]) -> str:
    out, at = [], 0
    for start, end, repl in subs:
        out += [text[at:start], repl]
        at = end
    out.append(text[at:])
    return "".join(out)


def defang(text: str) -> str:
    """URLs and bare domains made inert for chat clients, which link (and
    fetch previews of) `https://evil.com` and `evil.com` alike:
    `hxxps://evil[.]com`, `evil[.]com`. Idempotent."""
    return _apply(text, _defang_subs(text))


def _translate(text: str, table: dict[int, str]) -> str:
    """`text` through a look-alike table, our defanged dots `[.]` kept."""
    return "[.]".join(piece.translate(table) for piece in _DEFANGED_DOT.split(text))


def _chat(text: str, table: dict[int, str]) -> str:
    return defang(_AT.sub("@" + ZWSP, _translate(one_line(text), table)))


def slack_safe(text: str) -> str:
    """Untrusted text made inert for Slack markdown: no mentions, no links.

    `<!channel>`, `<@U1>`, `<url|label>` lose their brackets, `@here` its
    ping, and URLs and bare domains are defanged (Slack links and unfurls them).
    """
    return _chat(text, _SLACK_TABLE)


def md_safe(text: str) -> str:
    """Untrusted text made inert for chat markdown (Discord, Mattermost, …)."""
    return _chat(text, _MD_TABLE)


def chat_safe(text: str) -> str:
    """Untrusted text made inert for a plain-text chat (Matrix, Telegram, …)."""
    return _chat(text, _CHAT_TABLE)


def escaper(target: str, fmt: str) -> Escaper:
    """How untrusted text is escaped for `target` in a template of format `fmt`.

    The chat targets always get their chat escaper, whatever the template
    format (a text body is still parsed for mentions by Discord). A markdown
    template sent to email/text is converted to HTML by apprise: md_safe.
    HTML templates add autoescape on top.
    """
    if target == T_SLACK:
        return slack_safe
    if target == T_MARKDOWN or fmt == MARKDOWN:
        return md_safe
    if target == T_CHAT:
        return chat_safe
    return plain_safe


def is_chat(target: str, fmt: str) -> bool:
    """True when `escaper(target, fmt)` defangs (the target's client links and pings)."""
    return escaper(target, fmt) is not plain_safe


def _clean(text: str) -> str:
    """A piece of a longer text as part of one line: runs of space one space, no controls."""
    return strip_controls(re.sub(r"\s+", " ", text))


def snippet_runs(snippet: Snippet, target: str, fmt: str) -> tuple[tuple[str, bool], ...]:
    """A snippet's (text, is_match) runs as one line, not yet escaped.

    For chat targets URLs and bare domains are defanged over the whole
    snippet first, so a match inside `evil.com` (a run ending at the dot)
    cannot leave the host whole for the client to link.
    """
    runs = [(text, is_match) for text, is_match in ((_clean(t), m) for t, m in snippet.parts()) if text]
    if is_chat(target, fmt):
        runs = _apply_runs(_defang_subs("".join(text for text, _ in runs)), runs)
    return tuple(runs)


def _apply_runs(subs: list[Sub], runs: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """`subs` (offsets into the runs' joined text) applied run by run; a
    replacement goes to the run it starts in. Runs are not empty."""
    if not subs:
        return runs
    out: list[tuple[str, bool]] = []
    pos = 0
    for text, is_match in runs:
        lo, hi = pos, pos + len(text)
        pos = hi
        pieces: list[str] = []
        at = lo
        for start, end, repl in subs:
            if end <= lo or start >= hi:
                continue
            if start >= lo:
                pieces += [text[at - lo : start - lo], repl]
            at = max(at, min(end, hi))
        pieces.append(text[at - lo :])
        out.append(("".join(pieces), is_match))
    return out


def http_url(url: str | None) -> str | None:
    """`url` if it is a plain http(s) URL we are willing to link to, else None.

    No credentials (``user@host`` both phishes and pings on Discord), no
    whitespace or control characters.
    """
    if not url:
        return None
    url = url.strip()
    if _CONTROLS.search(url) or any(ch.isspace() for ch in url):
        return None
    try:
        split = urlsplit(url)
    except ValueError:
        return None
    if split.scheme.lower() not in ("http", "https") or not split.hostname or "@" in split.netloc:
        return None
    return url


def chat_link(url: str, target: str) -> str:
    """An http(s) URL with the characters that could end a markdown link encoded."""
    split = urlsplit(url)
    rest = url[len(split.scheme) + 3 + len(split.netloc) :]
    safe = "/:?#=&%;,+$!'~*-._" + ("" if target in (T_MARKDOWN, T_CHAT) else "@")
    return f"{split.scheme}://{split.netloc}{quote(rest, safe=safe)}"


def _joins(ch: str) -> bool:
    """True if `ch` belongs to the grapheme before it (accent, ZWJ, selector, skin tone)."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or code == 0x200D
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF
    )


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis, never inside a character
    or a grapheme (accent, emoji ZWJ sequence, flag)."""
    if len(text) <= limit:
        return text
    cut = max(limit - 1, 0)
    while 0 < cut < len(text) and (_joins(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    if cut and 0x1F1E6 <= ord(text[cut - 1]) <= 0x1F1FF:  # keep regional-indicator pairs whole
        run = cut
        while run and 0x1F1E6 <= ord(text[run - 1]) <= 0x1F1FF:
            run -= 1
        cut -= (cut - run) % 2
    return text[:cut].rstrip() + "…"


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def display_zone(tz: str | tzinfo | None) -> tzinfo | None:
    """The zone to show times in; None means UTC only (also for an unknown name)."""
    try:
        zone = ZoneInfo(tz) if isinstance(tz, str) and tz else tz or None
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError; bad keys ValueError
        zone = None
    return None if zone is None or str(zone) in ("UTC", "Etc/UTC") else zone


def zone_name(zone: tzinfo | None) -> str:
    return "UTC" if zone is None else str(getattr(zone, "key", None) or zone)


def time_formatter(zone: tzinfo | None) -> Callable[..., str]:
    def fmt_time(value: datetime | None, short: bool = False) -> str:
        if value is None:
            return ""
        utc = as_utc(value)
        if short:
            return (utc if zone is None else utc.astimezone(zone)).strftime("%d %b %H:%M")
        if zone is None:
            return utc.strftime("%Y-%m-%d %H:%M UTC")
        return utc.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") + utc.strftime(" (%H:%M UTC)")

    return fmt_time


def window_text(start: datetime, end: datetime, zone: tzinfo | None) -> str:
    a, b = as_utc(start), as_utc(end)
    if zone is not None:
        a, b = a.astimezone(zone), b.astimezone(zone)
    if a.date() == b.date():
        return f"{a:%H:%M}–{b:%H:%M} {zone_name(zone)}"
    return f"{a:%Y-%m-%d %H:%M} – {b:%Y-%m-%d %H:%M} {zone_name(zone)}"


def span_text(start: datetime, end: datetime, zone: tzinfo | None) -> str:
    minutes = round((as_utc(end) - as_utc(start)).total_seconds() / 60)
    if minutes == 60:
        return "in the last hour"
    if 0 < minutes < 60:
        return f"in the last {minutes} minutes"
    if minutes % 60 == 0 and 0 < minutes <= 48 * 60:
        return f"in the last {minutes // 60} hours"
    return f"between {window_text(start, end, zone).replace('–', ' and ', 1)}"


class Highlighted(tuple[tuple[str, bool], ...]):
    """Escaped (text, is_match) runs of a snippet; the `highlight` filter renders them."""

    def __str__(self) -> str:
        return "".join(text for text, _ in self)


def template_format(name: str | Path) -> str:
    """The body format a template produces, by its file name."""
    lowered = str(name).lower()
    if lowered.endswith((".html.j2", ".htm.j2")):
        return HTML
    if lowered.endswith((".md.j2", ".slack.j2", ".markdown.j2")):
        return MARKDOWN
    return TEXT


def _highlight(fmt: str, esc: Escaper) -> Callable[[Any], Any]:
    def highlight(value: Any) -> Any:
        runs = value if isinstance(value, tuple) else ((str(value), False),)
        if fmt == HTML:
            return Markup("").join(
                Markup("<mark>{}</mark>").format(esc(t)) if hit else escape(escape_run(esc, t)) for t, hit in runs
            )
        out = []
        for text, hit in runs:
            lead, core, tail = _spaces(text)
            core = esc(core)
            out.append(f"{lead}**{core}**{tail}" if hit and fmt == MARKDOWN and core else lead + core + tail)
        return MdSafe("".join(out))

    return highlight


def _spaces(text: str) -> tuple[str, str, str]:
    """(leading space, text, trailing space), each run of space made one space."""
    core = text.strip()
    if not core:
        return (" " if text else ""), "", ""
    start = text.index(core)
    return (" " if start else ""), core, (" " if start + len(core) < len(text) else "")


def escape_run(esc: Escaper, text: str) -> str:
    """`esc` applied to a piece of a longer text, keeping the space around it."""
    lead, core, tail = _spaces(text)
    return lead + esc(core) + tail if core else lead


def _safe_filter(esc: Escaper, fmt: str) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if isinstance(value, (Markup, MdSafe, Highlighted)):
            return value
        if isinstance(value, (list, tuple)):
            return [apply(item) for item in value]
        # HTML: a plain str, autoescaped on output; otherwise marked done.
        return esc(str(value)) if fmt == HTML else MdSafe(esc(str(value)))

    return apply


@lru_cache(maxsize=64)
def environment(target: str, fmt: str, folder: str | None = None) -> Environment:
    """The Jinja environment for `target` and `fmt`; `folder` None = shipped templates.

    User templates (`folder` set) get a SandboxedEnvironment with StrictUndefined:
    a typo is an error, and the template cannot reach Python internals.
    """
    env_class = Environment if folder is None else SandboxedEnvironment
    env = env_class(
        loader=FileSystemLoader(str(SHIPPED_DIR) if folder is None else folder),
        autoescape=fmt == HTML,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=True,
    )
    esc = escaper(target, fmt)
    safe = _safe_filter(esc, fmt)
    env.filters.update(md=safe, slack=safe, plain=safe, highlight=_highlight(fmt, esc))
    return env


def link_helper(target: str, fmt: str) -> Callable[[str | None, Any], Any]:
    """`link(url, label)` for templates: the only way a link is written.

    HTML: `<a href>` only for http(s) URLs; markdown: `[label](url)` with the
    URL encoded so it cannot end early; text: the URL on its own.
    """
    esc = escaper(target, fmt)

    def link(url: str | None, label: Any = None) -> Any:
        checked = http_url(url)
        text = esc(str(label)) if label not in (None, "") else (checked or "")
        if fmt == HTML:
            if checked is None:
                return escape(text)
            return Markup('<a href="{}">{}</a>').format(checked, text)
        if checked is None:
            return MdSafe(text)
        if fmt == MARKDOWN:
            return MdSafe(f"[{text}]({chat_link(checked, target)})")
        return MdSafe(chat_link(checked, target) if target in (T_SLACK, T_MARKDOWN, T_CHAT) else checked)

    return link


def shipped_format(target: str) -> str:
    """The format of the packaged templates for a target medium."""
    return {T_EMAIL: HTML, T_SLACK: MARKDOWN, T_MARKDOWN: MARKDOWN}.get(target, TEXT)


def shipped_template(kind: str, target: str) -> Template:
    """The packaged template for a message kind and target medium."""
    fmt = shipped_format(target)
    suffix = {HTML: "html", MARKDOWN: "md", TEXT: "txt"}[fmt]
    return environment(target, fmt).get_template(f"{kind}.{suffix}.j2")


def user_template(path: str | Path, target: str) -> Template:
    """A channel's own template (sandboxed); raises FileNotFoundError or a Jinja error."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise FileNotFoundError(str(path))
    return environment(target, template_format(resolved.name), str(resolved.parent)).get_template(resolved.name)


def error_line(exc: BaseException, template: Template | None) -> int | None:
    """The template line an error was raised at (syntax errors carry it; runtime
    errors have it in Jinja's rewritten traceback)."""
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    filename = template.filename if template is not None else None
    found = None
    tb = exc.__traceback__
    while tb is not None:
        code_file = tb.tb_frame.f_code.co_filename
        if code_file == filename or code_file.endswith(".j2"):
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def describe(exc: BaseException, names: Iterable[tuple[str, str]] = ()) -> str:
    """A short message for a template error, with our class names shown as the
    template variable names ('hit' has no attribute 'tittle')."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    for cls_name, var in names:
        message = re.sub(rf"'[\w.]*\b{cls_name} object'", f"'{var}'", message)
    if isinstance(exc, FileNotFoundError):
        return message
    if not isinstance(exc, Exception) or type(exc).__module__.startswith("jinja2"):
        return message
    return f"{type(exc).__name__}: {message}"


def sample_hits() -> list[HitRecord]:
    """Realistic hits for checking a template: two watchlists, one hit without a link."""
    base = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    rows = [
        (
            "cartels",
            "US weighs strikes on cartel labs",
            "https://news.example.org/world/cartel-labs",
            "Example World News",
            ("cartel", "fentanyl"),
            Snippet("Officials said cartel labs making fentanyl…", ((15, 21), (34, 42))),
            3.2,
        ),
        (
            "cartels",
            "Cártel de Sinaloa: nueva ofensiva",
            "https://noticias.example.mx/sinaloa",
            "Noticias MX",
            ("cártel",),
            Snippet("El cártel anunció…", ((3, 9),)),
            2.1,
        ),
        (
            "security",
            "Port security tightened after threat",
            None,
            "Harbour Daily",
            ("port security",),
            Snippet("Port security was raised to level 2.", ((0, 13),)),
            1.4,
        ),
    ]
    return [
        HitRecord(
            id=index,
            watchlist=watchlist,
            title=title,
            link=link,
            feed=feed,
            terms=terms,
            snippet=snippet.text,
            score=score,
            published=base - timedelta(minutes=37 * index),
            found_at=base - timedelta(minutes=30 * index),
            snippets=(snippet,),
        )
        for index, (watchlist, title, link, feed, terms, snippet, score) in enumerate(rows, start=1)
    ]
