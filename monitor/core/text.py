"""Text normalisation shared by matching and display.

Owns how text is folded (NFKC, case-folded, accents removed) and split into
words. Words are runs of letters and digits (with their combining marks);
everything else separates words, so "Mexico's" is `mexico s` and
"price-fixing" is `price fixing`. Each word keeps its character offsets in
the original string, so snippets and highlights point into the real text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# A letter or digit, then letters, digits or combining marks. `[^\W_]` is
# "a word character but not underscore", i.e. Unicode letters and digits.
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD_RE = re.compile(rf"(?:[^\W_][{_COMBINING}]*)+", re.UNICODE)
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Token:
    """A folded word and where it stands in the original text."""

    word: str
    start: int
    end: int


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    """Fold one word: compatibility-normalise, case-fold, strip accents."""
    text = unicodedata.normalize("NFKD", word.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", text).casefold()


def fold(text: str) -> str:
    """Fold a whole string (used for display-independent comparisons)."""
    return " ".join(words(text))


def tokenize(text: str) -> list[Token]:
    """Split `text` into folded words with their offsets in `text`.

    A word whose folded form itself contains separators (rare compatibility
    characters such as "½") is split further, all parts keeping the span of
    the original word.
    """
    tokens: list[Token] = []
    for m in _WORD_RE.finditer(text):
        folded = fold_word(m.group())
        if folded.isalnum():
            tokens.append(Token(folded, m.start(), m.end()))
            continue
        for part in _WORD_RE.findall(folded):
            tokens.append(Token(part, m.start(), m.end()))
    return tokens


def words(text: str) -> list[str]:
    """The folded words of `text`, without offsets (the same words `tokenize` gives)."""
    out: list[str] = []
    for word in _WORD_RE.findall(text):
        folded = fold_word(word)
        if folded.isalnum():
            out.append(folded)
        else:
            out.extend(_WORD_RE.findall(folded))
    return out


def collapse_spaces(text: str) -> str:
    """Collapse runs of whitespace to one space and trim."""
    # str.split() and `\s` agree on what whitespace is; split is faster.
    return " ".join(text.split())


def snippet(text: str, start: int, end: int, width: int = 200) -> str:
    """About `width` characters of `text` around [start, end), cut at word edges.

    Ellipses mark where the text was cut; whitespace is collapsed.
    """
    if not text:
        return ""
    lo, hi = snippet_bounds(text, start, end, width)
    body = collapse_spaces(text[lo:hi])
    return ("…" if lo > 0 else "") + body + ("…" if hi < len(text) else "")


def snippet_bounds(text: str, start: int, end: int, width: int = 200) -> tuple[int, int]:
    """The [lo, hi) slice of `text` that `snippet` shows around [start, end)."""
    span = max(end - start, 0)
    pad = max((width - span) // 2, 0)
    lo = max(start - pad, 0)
    hi = min(end + pad, len(text))
    # Give unused room on one side to the other.
    if lo == 0:
        hi = min(len(text), max(hi, width))
    if hi == len(text):
        lo = max(0, min(lo, len(text) - width))
    if lo > 0:
        cut = text.rfind(" ", lo - 20, lo + 1)
        lo = cut + 1 if cut != -1 and cut < start else lo
    if hi < len(text):
        cut = text.find(" ", hi - 1, hi + 20)
        hi = cut if cut != -1 and cut >= end else hi
    return lo, hi
