"""What we keep of an entry's fields, whatever the source kind: the shared rules.

Owns the caps (title, text, guid, link), HTML-to-text, the guid and link
rules (http(s) only, relative links resolved), plausible publication times
(1990 to a day ahead), a lenient date reader for sources that write dates
as they like (sitemaps, listing pages), and `collect`: unusable entries
skipped, repeated guids dropped, at most `max_entries` kept. `parse.py`
(RSS/Atom/RDF), `jsonfeed.py`, `sitemap.py` and `listing.py` all build
their articles with these, so every kind of source is bounded the same way.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

from monitor.models import ArticleData

log = logging.getLogger(__name__)

MAX_TITLE = 1000
MAX_TEXT = 200_000  # summary and content, each
MAX_GUID = 2000
MAX_LINK = 8192
# HTML beyond this many characters is not even looked at (its text is capped anyway).
MAX_FRAGMENT = 4 * MAX_TEXT
# Publication times outside [_EARLIEST, now + _FUTURE_SLACK] are treated as unknown.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_URL_BREAKS = str.maketrans("", "", "\t\r\n")
_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table section article header footer figure figcaption"
    " dd dt hr".split()
)
# Control characters (as CONTROL) deleted; tab, CR, form feed, vertical tab and
# no-break space made plain spaces.
_TIDY_TABLE: dict[int, str | None] = {
    **{code: None for code in (*range(9), 11, 12, *range(14, 32), 0x7F, 0xFFFE, 0xFFFF)},
    **{code: " " for code in (0x09, 0x0B, 0x0C, 0x0D, 0xA0)},
}
# Whether a text has anything `_TIDY_TABLE` changes: a scan is ~10× cheaper
# than the translation (which has no fast path for deletions), and most
# fields have nothing to change.
_UNTIDY = re.compile("[\x00-\x09\x0b-\x1f\x7f\xa0\ufffe\uffff]")
_MULTI_SPACE = re.compile(" {2,}")


_TAG_NAMES = "|".join(sorted(_BLOCK_TAGS))
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_SKIPPED_RE = re.compile(
    r"<(script|style|noscript|template|head|title)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL
)
_BLOCK_RE = re.compile(rf"</?(?:{_TAG_NAMES})\b[^>]*>", re.IGNORECASE)
# A tag starts with a letter (or /, !, ?): "a < b" in text is not a tag.
_TAG_RE = re.compile(r"</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>")


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, spaces tidied.

    Regular expressions rather than an HTML parser: an order of magnitude
    faster on feed-sized fragments, and we only need the words, one line
    per block (script, style and comments dropped).
    """
    if not fragment:
        return ""
    fragment = fragment[:MAX_FRAGMENT]
    if "<" not in fragment and "&" not in fragment:
        return tidy(fragment)
    text = _COMMENT_RE.sub("", fragment)
    text = _SKIPPED_RE.sub("", text)
    text = _BLOCK_RE.sub("\n", text)
    text = _TAG_RE.sub("", text)
    return tidy(html.unescape(text))


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def page_title(page: str) -> str:
    """The <title> of an HTML page, as plain text ('' if none)."""
    m = _TITLE_RE.search(page)
    return html_to_text(m.group(1)) if m else ""


def tidy(text: str) -> str:
    """Control characters out, blanks to one space, one line per block (str.translate: C speed)."""
    if _UNTIDY.search(text):
        text = text.translate(_TIDY_TABLE)
    if "  " in text:
        text = _MULTI_SPACE.sub(" ", text)
    if "\n" not in text:
        return text.strip()
    return "\n".join(line for line in (part.strip() for part in text.split("\n")) if line)


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def guid_of(value: str) -> str:
    """A publisher's id as a guid: control characters out, a CR as an XML
    parser reads it (LF: the fast path and feedparser's fallback for a
    broken document then give the same guid); a very long one hashed."""
    value = CONTROL.sub("", value).replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(value) > MAX_GUID:
        return fingerprint(value)
    return value


def cap(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters without splitting a character.

    A base letter is not separated from its combining marks, nor a joined or
    variation-selected emoji from its tail (a bounded back-off).
    """
    if len(text) <= limit:
        return text
    cut = limit
    floor = max(limit - 32, 0)
    while cut > floor and _continues(text, cut):
        cut -= 1
    if cut == floor:
        cut = limit
    return text[:cut].rstrip()


def _continues(text: str, index: int) -> bool:
    """Whether the character at `index` belongs with the one before it."""
    char, before = text[index], text[index - 1]
    if char in "\u200d\ufe0e\ufe0f" or before == "\u200d":
        return True
    if unicodedata.category(char) in ("Mn", "Mc", "Me", "Cs"):
        return True
    return 0x1F3FB <= ord(char) <= 0x1F3FF  # skin-tone modifiers


def http_link(value: object, base: str, feed_url: str) -> str | None:
    """`value` as an absolute http(s) URL (relative ones joined to `base`, else `feed_url`); None if not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    # Tabs and line breaks inside a URL are dropped, as browsers do (WHATWG URL).
    link = value.strip().translate(_URL_BREAKS)
    if len(link) > MAX_LINK or CONTROL.search(link):
        return None
    if not urlsplit(link).scheme:
        link = urljoin(base if urlsplit(base).scheme in ("http", "https") else feed_url, link)
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return link


def plausible(moment: datetime | None, now: datetime) -> datetime | None:
    """`moment` in UTC if it is plausible, else None.

    Dates before 1990 (epoch zeros) or more than a day ahead (clock or time
    zone bugs) would misplace the article, so the store's first-seen time is
    used instead. A time without a zone is taken as UTC.
    """
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment if _EARLIEST <= moment <= now + _FUTURE_SLACK else None


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "january jan enero ene",
            "february feb febrero",
            "march mar marzo",
            "april apr abril abr",
            "may mayo",
            "june jun junio",
            "july jul julio",
            "august aug agosto ago",
            "september sep sept septiembre setiembre",
            "october oct octubre",
            "november nov noviembre",
            "december dec diciembre dic",
        ),
        start=1,
    )
    for name in names.split()
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
# "4 December 2026", "4 de diciembre de 2026", "December 4th, 2026", "Dec. 4 2026",
# then an optional time "10:30", "10:30 pm".
_WORDY_DATE = re.compile(
    rf"\b(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:de\s+)?(?P<m1>{_MONTH})\.?,?\s+(?:de\s+)?(?P<y1>\d{{4}})"
    rf"|(?P<m2>{_MONTH})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{{4}}))\b"
    r"(?:[^\d]{0,12}?(?P<h>\d{1,2}):(?P<mi>\d\d)(?::(?P<s>\d\d))?\s*(?P<ap>[ap]\.?m\.?)?)?",
    re.IGNORECASE,
)
_MAX_DATE_TEXT = 200


def lenient_date(text: str) -> datetime | None:
    """A date as publishers write it: ISO 8601 / RFC 3339, RFC 2822, or "4 December 2026".

    Spanish month names are read too. A time without a zone is taken as UTC;
    anything else unreadable is None. Plausibility is the caller's (`plausible`).
    """
    text = tidy(text[: _MAX_DATE_TEXT * 2])[:_MAX_DATE_TEXT]
    if not text:
        return None
    iso = text.replace("z", "Z")
    try:
        return datetime.fromisoformat(iso[:-1] + "+00:00" if iso.endswith("Z") else iso)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    m = _WORDY_DATE.search(text)
    if m is None:
        return None
    day, month, year = (m["d1"], m["m1"], m["y1"]) if m["d1"] else (m["d2"], m["m2"], m["y2"])
    hour, minute, second = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
    if m["ap"]:
        hour = hour % 12 + (12 if m["ap"].lower().startswith("p") else 0)
    try:
        return datetime(int(year), _MONTHS[month.lower()], int(day), hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def one_line(exc: object) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300] if text.strip() else type(exc).__name__


def fingerprint(*fields: str) -> str:
    digest = hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()
    return f"sha256:{digest[:40]}"


E = TypeVar("E")


def collect(
    entries: Iterable[E],
    build: Callable[[E], ArticleData | None],
    limit: int | None,
    url: str,
    notes: list[str],
) -> tuple[ArticleData, ...]:
    """The articles `build` makes of `entries`, in order: at most `limit`, first guid wins.

    An entry `build` raises on is skipped and counted, one that gives None is
    not an article (nothing usable in it); counts go to `notes`.
    """
    limit = None if limit is None else max(limit, 0)
    articles: list[ArticleData] = []
    seen: set[str] = set()
    broken = duplicates = 0
    for entry in entries:
        if limit is not None and len(articles) >= limit:
            break
        try:
            article = build(entry)
        except Exception:
            log.debug("skipping an unreadable entry of %s", url, exc_info=True)
            broken += 1
            continue
        if article is None:
            continue
        if article.guid in seen:
            duplicates += 1
            continue
        seen.add(article.guid)
        articles.append(article)
    if broken:
        notes.append(f"{broken} unreadable entries skipped")
    if duplicates:
        notes.append(f"{duplicates} entries with a repeated guid dropped")
    return tuple(articles)
