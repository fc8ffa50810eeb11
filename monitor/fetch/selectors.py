"""CSS selectors over HTML, through selectolax's lexbor engine (the one place it is imported).

Owns parsing an HTML page into a tree and checking a selector written by the
config author, so that `monitor check` names a selector that cannot be parsed
instead of the first poll failing on it. Lexbor is a C HTML5 parser: linear
in the page, no recursion limit to overflow on deeply nested markup.
"""

from __future__ import annotations

import re
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

__all__ = [
    "MAX_DEPTH",
    "LexborHTMLParser",
    "LexborNode",
    "bounded_tree",
    "first",
    "html_tree",
    "select",
    "selector_problem",
    "too_deep",
]

_PROBE = "<html><body><p>probe</p></body></html>"


def html_tree(page: str | bytes, *, encoding: bool = False) -> LexborHTMLParser:
    """The parsed tree of an HTML page.

    Bytes are read as UTF-8, or with `encoding=True` in the charset a byte
    order mark or a `<meta charset>` in the first 1024 bytes names (the HTML
    Standard's sniffing, done by lexbor).
    """
    return LexborHTMLParser(page, encoding=encoding)


def select(node: LexborHTMLParser | LexborNode, selector: str) -> list[LexborNode]:
    """The nodes under `node` that `selector` matches, in document order."""
    return list(node.css(selector))


def first(node: LexborHTMLParser | LexborNode, selector: str) -> LexborNode | None:
    """The first node under `node` that `selector` matches, or None."""
    return node.css_first(selector)


@lru_cache(maxsize=256)
def selector_problem(selector: str) -> str | None:
    """Why `selector` is not a usable CSS selector, or None when it is."""
    if not selector.strip():
        return "is empty"
    try:
        html_tree(_PROBE).css(selector)
    except SelectolaxError:
        return f"{selector!r} is not a CSS selector lexbor can parse"
    return None


# -- nesting ----------------------------------------------------------------
# Lexbor's tree builder checks element scopes against the stack of open
# elements, so its time grows with the square of the nesting depth: 50,000
# nested <div>s take seconds, a 10 MB page of them hours. Pages are cut
# where they nest deeper than MAX_DEPTH (browsers cap the DOM depth too;
# real pages stay far below a few hundred).
MAX_DEPTH = 2048
# Elements that never contain others, or whose end tag is optional (closed
# implicitly by a sibling): they do not deepen the tree a counter can see.
_FLAT = frozenset(
    "area base br col embed hr img input link meta param source track wbr keygen "
    "p li dt dd option optgroup tr td th thead tbody tfoot colgroup rb rt rp rtc html head body".split()
)
_TAG_PATTERN = (
    r"<!--.*?(?:-->|\Z)|<(script|style|textarea|title|template|xmp|noscript)\b.*?(?:</\1\s*>|\Z)"
    r"|<(/?)([A-Za-z][\w:-]*)[^>]*?(/?)>"
)
_TAGS = re.compile(_TAG_PATTERN, re.IGNORECASE | re.DOTALL)
_TAGS_BYTES = re.compile(_TAG_PATTERN.encode("ascii"), re.IGNORECASE | re.DOTALL)


def too_deep(page: str | bytes, limit: int = MAX_DEPTH) -> int | None:
    """Where `page` first nests deeper than `limit` elements (an offset into it), or None.

    A linear scan of the tags (comments and raw-text elements skipped, void,
    optional-end and self-closed elements not counted): an estimate of the
    tree's depth that errs on the shallow side for sloppy markup. Bytes are
    scanned as ASCII-compatible (decode UTF-16/32 first).
    """
    depth = 0
    tags = _TAGS.finditer(page) if isinstance(page, str) else _TAGS_BYTES.finditer(page)
    for m in tags:
        name = m.group(3)
        if name is None or m.group(4):
            continue
        if (name if isinstance(name, str) else name.decode("ascii")).lower() in _FLAT:
            continue
        if m.group(2):
            depth = depth - 1 if depth else 0
            continue
        depth += 1
        if depth > limit:
            return m.start()
    return None


def bounded_tree(page: str | bytes, *, encoding: bool = False) -> tuple[LexborHTMLParser, int | None]:
    """`html_tree` of `page` cut where it nests deeper than MAX_DEPTH; and the offset of the cut, if any.

    A byte page with a UTF-16/32 byte order mark should be decoded first
    (its tags are invisible to the byte scan).
    """
    cut = too_deep(page)
    if cut is not None:
        page = page[:cut]
    return html_tree(page, encoding=encoding), cut
