"""CSS selectors over HTML, through selectolax's lexbor engine (the one place it is imported).

Owns parsing an HTML page into a tree and checking a selector written by the
config author, so that `monitor check` names a selector that cannot be parsed
instead of the first poll failing on it. Lexbor is a C HTML5 parser: linear
in the page, no recursion limit to overflow on deeply nested markup.
"""

from __future__ import annotations

from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

__all__ = ["LexborHTMLParser", "LexborNode", "first", "html_tree", "select", "selector_problem"]

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
