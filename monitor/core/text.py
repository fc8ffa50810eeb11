"""Text normalisation shared by matching and display.

Owns how text is folded (NFKC, case-folded, accents removed) and split into
words. A word starts with a letter or digit and runs over letters, digits
and combining marks (Unicode categories Mn, Mc, Me) of any script;
everything else separates words, apostrophes included (', ’, ‘, ＇ and the
modifier letter ʼ alike), so "Mexico's" is `mexico s` and "price-fixing" is
`price fixing`. Each word keeps its character offsets in the original
string, so snippets and highlights point into the real text.

Folding drops the marks that are optional diacritics — Latin, Greek and
Cyrillic accents, Hebrew points and cantillation, Arabic harakat and Quranic
marks, Syriac vowels, variation selectors — and the Arabic tatweel, so
"שָׁלוֹם" is `שלום` and "محمّد" is `محمد`. Every other mark is part of the
letter it sits on and is kept: the vowel signs and viramas of Devanagari,
Bengali, Tamil and the other Brahmic scripts, Thai and Lao vowels and tone
marks, the kana voicing marks (so "हैलो" is not "हाल", nor "が" "か").

The FRACTION SLASH (U+2044) joins two words into one, so a vulgar fraction
stays one word: "½" and "1⁄2" are `1⁄2`, not `1 2` (nor "1.2", which is).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache


def _char_class(codes: list[int]) -> str:
    """A regex character-class body for the code points `codes` (sorted)."""
    runs: list[str] = []
    start = prev = codes[0]
    for code in [*codes[1:], -1]:
        if code == prev + 1:
            prev = code
            continue
        runs.append(f"\\U{start:08x}" + (f"-\\U{prev:08x}" if prev > start else ""))
        start = prev = code
    return "".join(runs)


# Every combining mark (Mn, Mc, Me). None lies below U+0300, in the CJK
# ideograph, Hangul syllable, surrogate and private-use blocks, or in the
# CJK planes 2 and 3, so those are not scanned (a few ms at import).
_MARKS = [
    code
    for block in (
        range(0x300, 0x3400),
        range(0xA000, 0xAC00),
        range(0xD7A4, 0xD800),
        range(0xF900, 0x20000),
        range(0xE0000, 0xE1000),
    )
    for code in block
    if unicodedata.category(chr(code))[0] == "M"
]
# Marks that are optional diacritics: dropped when folding, like accents.
_DIACRITIC_BLOCKS = (
    (0x0300, 0x036F),  # combining diacritical marks (Latin, Greek, Cyrillic accents)
    (0x0483, 0x0489),  # Cyrillic titlo and number signs
    (0x0591, 0x05C7),  # Hebrew cantillation and points (niqqud)
    (0x0610, 0x061A),  # Arabic honorifics and small letters above
    (0x064B, 0x065F),  # Arabic harakat: fathatan … wavy hamza below
    (0x0670, 0x0670),  # Arabic superscript alef
    (0x06D6, 0x06ED),  # Arabic Quranic annotation marks
    (0x0711, 0x0711),  # Syriac superscript alaph
    (0x0730, 0x074A),  # Syriac vowels and points
    (0x0898, 0x089F),  # Arabic Quranic marks (Extended-B)
    (0x08CA, 0x08FF),  # Arabic Quranic marks and harakat (Extended-A)
    (0x1AB0, 0x1AFF),  # combining diacritical marks extended
    (0x1DC0, 0x1DFF),  # combining diacritical marks supplement
    (0x20D0, 0x20FF),  # combining marks for symbols
    (0xFB1E, 0xFB1E),  # Hebrew point Judeo-Spanish varika
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFE20, 0xFE2F),  # combining half marks
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_DROP: dict[int, None] = {
    code: None
    for lo, hi in _DIACRITIC_BLOCKS
    for code in range(lo, hi + 1)
    if unicodedata.category(chr(code)) in ("Mn", "Me")
}
_DROP[0x0640] = None  # Arabic tatweel: stretches a word, is not a letter
APOSTROPHE = "\u02bc"  # a letter to Unicode (Lm), an apostrophe to readers
# A letter or digit that can start a word: `[^\W_]` is "a word character but
# not underscore", i.e. Unicode letters and digits (and numbers such as ½).
LETTER = rf"[^\W_{APOSTROPHE}]"
JOINERS = "\u2044"  # inside a word, not a separator: FRACTION SLASH ("½" is "1⁄2")


def _word_pattern(marks: list[int]) -> re.Pattern[str]:
    part = rf"(?:{LETTER}[{_char_class(marks)}]*)+"
    return re.compile(rf"{part}(?:[{JOINERS}]{part})*")


# `re` checks a character class holding code points past U+FFFF one range
# at a time (a slow path), so the marks outside the BMP (Brahmi, Grantha
# and other historic scripts) are left to a second pattern, used only for
# a text that has such characters.
_WORD_RE = _word_pattern([code for code in _MARKS if code <= 0xFFFF])
_WORD_RE_ALL = _word_pattern(_MARKS)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def _words_in(text: str) -> re.Pattern[str]:
    """The word pattern for `text`: the faster one unless it has astral characters."""
    return _WORD_RE if _ASTRAL_RE.search(text) is None else _WORD_RE_ALL


def is_word_char(ch: str) -> bool:
    """True for a letter, digit or combining mark: what a word is made of."""
    # `\w` is str.isalnum() plus "_" (see the re docs): this is LETTER or a mark.
    return (ch.isalnum() and ch != APOSTROPHE) or unicodedata.category(ch)[0] == "M"


@dataclass(frozen=True, slots=True)
class Token:
    """A folded word and where it stands in the original text."""

    word: str
    start: int
    end: int


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    """Fold one word: compatibility-normalise, case-fold, drop diacritics."""
    text = unicodedata.normalize("NFKD", word.casefold()).translate(_DROP)
    return unicodedata.normalize("NFKC", text).casefold()


def fold(text: str) -> str:
    """Fold a whole string (used for display-independent comparisons)."""
    return " ".join(words(text))


def tokenize(text: str) -> list[Token]:
    """Split `text` into folded words with their offsets in `text`.

    A word whose folded form itself contains separators (rare compatibility
    characters such as "ﷺ" or "⑴") is split further, all parts keeping the
    span of the original word.
    """
    tokens: list[Token] = []
    for m in _words_in(text).finditer(text):
        folded = fold_word(m.group())
        if folded.isalnum() and APOSTROPHE not in folded:  # "ŉ" folds to "ʼn"
            tokens.append(Token(folded, m.start(), m.end()))
            continue
        for part in _words_in(folded).findall(folded):
            tokens.append(Token(part, m.start(), m.end()))
    return tokens


def words(text: str) -> list[str]:
    """The folded words of `text`, without offsets (the same words `tokenize` gives)."""
    out: list[str] = []
    for word in _words_in(text).findall(text):
        folded = fold_word(word)
        if folded.isalnum() and APOSTROPHE not in folded:
            out.append(folded)
        else:
            out.extend(_words_in(folded).findall(folded))
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
