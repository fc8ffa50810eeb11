"""The main text of an article page, with trafilatura.

Owns the one call into trafilatura (and is the only module that imports it).
`extract_article` turns a fetched page (raw bytes, already decompressed, and
its response headers) into the article's text in the shape the feed parser
gives feed text: plain text, one paragraph per line, spaces tidied, no empty
lines, repeated paragraphs kept once (`identity.unique_paragraphs`), at most
`MAX_PAGE_TEXT` characters. Anything that is not an article page ends in
`ExtractError` with a short reason; `extract_job` is the process-pool form
that never raises.

Why trafilatura (bench/fulltext.py, docs/benchmarks.md "Full text"): on the
labelled pages in tests/data/articles it reaches a word-level F1 of 0.985
with these options and lets none of the boilerplate-only terms through;
readability-lxml reaches 0.965 and lets a newsletter box into the text.
Both take a few milliseconds per page (readability about 1 ms less).
trafilatura also finds comment sections, tables and pages without
semantic markup, and is actively maintained. Options, measured on that set:

- `include_comments=False`: with comments, comment threads are appended to
  the text (precision 0.53 on a page with fifteen comments).
- balanced mode (neither `favor_precision` nor `favor_recall`): precision
  mode drops standfirsts and subheads (recall 0.96 against 0.99) for little
  gain once the page's headline is removed here; recall mode lets a div-soup
  page's byline and share links in.
- tables kept, images, links and formatting off (plain text).

The page's own headline is not article text: the entry's title is matched
on its own, and a second copy would only inflate a match's score. A first
line equal to the page's <title> (or its part before a " | " / " - " site
suffix), og:title or first <h1> is dropped; a headline repeated further
down in the body stays.

What a page may cost is bounded before trafilatura sees it (it is a
pure-Python tree walk, roughly 45 µs per element on dense markup: 200,000
tiny elements took 16 s):

- media type: a PDF, image, audio, video, archive, JSON, a feed or other
  binary data is refused by name, from the Content-Type header and from the
  body's first bytes (a PDF served as text/html is still a PDF);
- charset: the Content-Type header's, else a byte order mark, else a
  <meta charset> in the first 4 KB, else UTF-8 if the bytes are valid UTF-8,
  else windows-1252 (as browsers do); undecodable bytes become U+FFFD;
- NUL and other control characters are removed; scripts, styles, SVG,
  <noscript>, <template> and comments are cut out with linear regular
  expressions (they are never article text and are often most of the bytes);
- at most `MAX_HTML_CHARS` characters of what remains are parsed;
- the tree (lxml, no huge-tree option) may hold at most `MAX_ELEMENTS`
  elements; libxml2 stops at 256 levels of nesting, which is reported as
  "page too deeply nested" rather than as a page without text.

The worst accepted page costs about a second and a half of CPU and a few
tens of MB; anything more is refused in milliseconds.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Mapping

import lxml.html  # type: ignore[import-untyped]  # lxml ships no type stubs
import trafilatura
from lxml import etree

from monitor.core.identity import unique_paragraphs

__all__ = [
    "MAX_ELEMENTS",
    "MAX_HTML_CHARS",
    "MAX_PAGE_TEXT",
    "ExtractError",
    "extract_article",
    "extract_job",
]

log = logging.getLogger(__name__)

MAX_PAGE_TEXT = 200_000
# Markup characters parsed (after scripts, styles and comments are cut out).
MAX_HTML_CHARS = 1_500_000
# Elements in the parsed tree (a news page has a few thousand).
MAX_ELEMENTS = 30_000


# Media types that may hold an article page.
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types that are not HTML but often carry it by mistake: accepted when the body looks like HTML.
_MAYBE_HTML = frozenset(
    {
        "",
        "text/plain",
        "application/xml",
        "text/xml",
        "application/octet-stream",
        "binary/octet-stream",
        "application/unknown",
        "unknown/unknown",
    }
)

# Magic numbers: the body's first bytes name what it is, whatever the header says.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"(\xb5/\xfd", "application/zstd"),
    (b"BZh", "application/x-bzip2"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!", "application/vnd.rar"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"\xd0\xcf\x11\xe0", "application/msword"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x7fELF", "application/x-executable"),
    (b"MZ\x90\x00", "application/x-msdownload"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HTML_SIGN = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|title|article|main|div|p|h1|section)[\s>/]", re.I)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
# Labels browsers read as windows-1252 (WHATWG Encoding), and ones that cannot describe HTML bytes.
_AS_CP1252 = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp819"})

# Never article text, and often most of a page's bytes; cut out before parsing.
# Each pattern is linear: a tag without its end tag runs to the end of the page.
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_SKIPPED_RE = re.compile(
    r"<(script|style|svg|noscript|template|iframe|object)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
# Control characters out (NUL included), tab/CR/form feed/no-break space to plain spaces.
_CONTROL_TABLE: dict[int, str | None] = {
    **{code: None for code in (*range(9), 11, 12, *range(14, 32), 0x7F, 0xFFFE, 0xFFFF)},
}
_TIDY_TABLE: dict[int, str | None] = {
    **_CONTROL_TABLE,
    **{code: " " for code in (0x09, 0x0B, 0x0C, 0x0D, 0xA0, 0x2007, 0x202F)},
    **{code: None for code in (0x200B, 0xFEFF, 0x00AD)},  # zero-width space, stray BOM, soft hyphen
}
_MULTI_SPACE = re.compile(" {2,}")
_TITLE_SUFFIX = re.compile(r"\s+(?:[|\-\u2013\u2014:\u00b7\u2022])\s+[^|\-\u2013\u2014:\u00b7\u2022]{1,80}$")


class ExtractError(Exception):
    """No article text could be taken from a page; `reason` says why, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def extract_article(body: bytes, headers: Mapping[str, str], url: str) -> str:
    """The main text of the article page `body`; raises ExtractError.

    `headers` are the response headers (any case); `url` is the page's final
    URL (handed to trafilatura, not fetched).
    """
    if not body or not body.strip():
        raise ExtractError("empty page")
    lowered = {key.lower(): value for key, value in headers.items()}
    content_type = lowered.get("content-type", "")
    _check_media(body, content_type)
    text = _decode(body, content_type)
    tree = _parse(text)
    title_lines = _headlines(tree)
    try:
        # The options measured in the module docstring.
        result = trafilatura.extract(
            tree,
            url=url or None,
            output_format="txt",
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            include_formatting=False,
            favor_precision=False,
            favor_recall=False,
            deduplicate=False,
            with_metadata=False,
        )
    except RecursionError as exc:
        raise ExtractError("page too deeply nested") from exc
    if not result:
        raise ExtractError("no article text found")
    lines = _tidy_lines(result)
    if lines and _normal(lines[0]) in title_lines:
        lines = lines[1:]
    page_text = unique_paragraphs("\n".join(lines))
    if not page_text:
        raise ExtractError("no article text found")
    return _cap(page_text, MAX_PAGE_TEXT)


def extract_job(body: bytes, headers: dict[str, str], url: str) -> tuple[str, str]:
    """`extract_article` for a process pool: ("ok", text) or ("error", reason), never an exception."""
    try:
        return "ok", extract_article(body, headers, url)
    except ExtractError as exc:
        return "error", exc.reason
    except Exception as exc:  # a bug in the extractor or lxml must not take the worker down
        log.warning("extracting %s crashed", url, exc_info=True)
        message = (str(exc).splitlines() or [""])[0][:200]
        return "error", f"extractor crashed: {type(exc).__name__}: {message}".rstrip(": ")


def _check_media(body: bytes, content_type: str) -> None:
    """Raise unless the body may be an HTML page (header and first bytes agree)."""
    media = content_type.split(";")[0].strip().lower()
    head = body[:1024]
    sniffed = _sniff(head)
    if sniffed is not None:
        served = f", served as {media}" if media and media != sniffed else ""
        raise ExtractError(f"not an HTML page ({sniffed}{served})")
    if media in _HTML_TYPES:
        return
    looks_html = _HTML_SIGN.search(_ascii_view(body[:65536])) is not None
    if media in _MAYBE_HTML:
        if looks_html:
            return
        if _feed_like(head):
            raise ExtractError(f"not an HTML page (a feed, {media or 'no content type'})")
        raise ExtractError(f"not an HTML page ({media or 'no content type'}, no HTML markup)")
    raise ExtractError(f"not an HTML page ({media})")


def _sniff(head: bytes) -> str | None:
    """The media type that the first bytes give away, for non-HTML content; None otherwise."""
    for bom, _codec in _BOMS:
        if head.startswith(bom):
            return None  # text with a byte order mark
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        return "image/heic" if brand.startswith(b"hei") else "video/mp4"
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}[head[8:12]]
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"[") and b"<" not in stripped[:200]:
        return "application/json"
    if _feed_like(head):
        return None  # decided with the content type
    if head.count(0) > len(head) // 8 and _HTML_SIGN.search(_ascii_view(head)) is None:
        return "binary data"  # NULs in markup (or UTF-16 without a BOM) are dropped later
    return None


def _feed_like(head: bytes) -> bool:
    lower = head.lower()
    return b"<rss" in lower or b"<feed" in lower or b"<rdf:rdf" in lower or b"<urlset" in lower


def _ascii_view(data: bytes) -> bytes:
    """The bytes without NULs, so ASCII patterns can be found in UTF-16/32 text or NUL-strewn markup."""
    return data.replace(b"\x00", b"") if b"\x00" in data else data


def _decode(body: bytes, content_type: str) -> str:
    """The page as text: the header's charset, a BOM, a <meta> charset, UTF-8, or windows-1252."""
    codec: str | None = None
    for bom, name in _BOMS:
        if body.startswith(bom):
            codec = name
            body = body[len(bom) :]
            break
    if codec is None:
        match = _CHARSET_PARAM.search(content_type)
        codec = _codec(match.group(1)) if match else None
    if codec is None:
        meta = _META_CHARSET.search(body[:4096])
        codec = _codec(meta.group(1).decode("ascii", "replace")) if meta else None
        if codec is not None and codec.startswith(("utf-16", "utf-32")):
            codec = "utf-8"  # a <meta> readable as ASCII cannot be telling the truth about UTF-16
    if codec is None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            codec = "cp1252"
        else:
            return text.translate(_CONTROL_TABLE)
    return body.decode(codec, errors="replace").translate(_CONTROL_TABLE)


def _codec(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    return "utf-8" if name in ("utf-8-sig", "utf-7") else name


def _parse(text: str) -> lxml.html.HtmlElement:
    """The page's tree, after the bounds in the module docstring; raises ExtractError."""
    text = _COMMENT_RE.sub("", text)
    text = _SKIPPED_RE.sub(" ", text)
    if len(text) > MAX_HTML_CHARS:
        cut = text.rfind("<", MAX_HTML_CHARS - 4096, MAX_HTML_CHARS)
        text = text[: cut if cut > 0 else MAX_HTML_CHARS]
    # An upper bound on the elements, before building any of them.
    opened = text.count("<") - text.count("</")
    if opened > 4 * MAX_ELEMENTS:
        raise ExtractError(f"page too large (about {opened:,} elements, limit {MAX_ELEMENTS:,})")
    if "<" not in text:
        raise ExtractError("no article text found")
    parser = lxml.html.HTMLParser(
        remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False, huge_tree=False
    )
    try:
        tree = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:  # e.g. "Document is empty"
        raise ExtractError(f"unreadable HTML ({str(exc)[:80] or type(exc).__name__})") from exc
    if any("depth" in error.message.lower() for error in parser.error_log):
        raise ExtractError("page too deeply nested (more than 255 levels)")
    count = sum(1 for _ in tree.iter())
    if count > MAX_ELEMENTS:
        raise ExtractError(f"page too large ({count:,} elements, limit {MAX_ELEMENTS:,})")
    return tree


def _headlines(tree: lxml.html.HtmlElement) -> set[str]:
    """The page's own headline in its forms (title, title without site suffix, og:title, first h1), normalised."""
    found: set[str] = set()
    title = tree.findtext(".//title")
    if title:
        found.add(_normal(title))
        found.add(_normal(_TITLE_SUFFIX.sub("", title.strip())))
    for meta in tree.iterfind(".//meta[@property='og:title']"):
        found.add(_normal(meta.get("content") or ""))
        break
    for h1 in tree.iterfind(".//h1"):
        found.add(_normal(h1.text_content()))
        break
    found.discard("")
    return found


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _tidy_lines(text: str) -> list[str]:
    """Non-empty lines with control characters out and blanks folded to one space."""
    text = text.translate(_TIDY_TABLE)
    lines = []
    for line in text.split("\n"):
        line = _MULTI_SPACE.sub(" ", line).strip()
        if line:
            lines.append(line)
    return lines


def _cap(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space near the end if there is one."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit - 200, limit)
    return text[: cut if cut > 0 else limit].rstrip()
