"""One article, normalised once: the folded stream of each field.

Owns the fast path of folding. `monitor.core.text.tokenize` is the
definition of words; here the common case (ASCII, and Latin, Greek or
Cyrillic letters whose folding is one character for one character) is done
with one `str.translate` per field, which keeps every character where it was:
the folded text (separators turned into spaces) is the presearch stream and
its offsets are offsets into the original text, with no further work.
Anything else (combining marks, ligatures, "ß", digits like "½") falls back
to `tokenize`, its words joined by single spaces, offsets mapped back
through the tokens. A property test checks that both ways give the same
words and offsets.

Words are the runs of non-spaces of a stream; between two words there are 1
to MAX_GAP spaces (longer runs of separators are squeezed to one space).
`ArticleFields.stream` puts the title's and the text's streams in one
string, " title | text ", so one automaton pass sees both and no phrase can
run from one field into the other.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

from monitor.core.text import JOINERS, LETTER, fold_word, tokenize

FIELD_NAMES = ("title", "text")
_WORDCHAR_RE = re.compile(LETTER)
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")

# ord -> folded character; " " for a separator. Filled lazily per character.
_TABLE: dict[int, str] = {}
_COMPLEX: set[str] = set()
for _code in range(128):
    _ch = chr(_code)
    _TABLE[_code] = _ch.lower() if _ch.isalnum() else " "
_ASCII_TABLE = dict(_TABLE)
_ASCII_BYTES = bytes(ord(_TABLE[code]) for code in range(128)) + bytes(128)
# Scripts whose letters fold one-to-one and never compose under NFKC (the
# spacing modifier letters for "ʼ", an apostrophe: a separator).
_SIMPLE_RANGES = ((0x80, 0x24F), (0x2B0, 0x2FF), (0x370, 0x3FF), (0x400, 0x4FF), (0x2000, 0x206F))


def _learn(ch: str) -> bool:
    """Add `ch` to the fast table if it folds one-to-one; False if not."""
    code = ord(ch)
    if not any(lo <= code <= hi for lo, hi in _SIMPLE_RANGES):
        _COMPLEX.add(ch)
        return False
    if unicodedata.category(ch)[0] == "M" or ch in JOINERS:
        # A mark belongs to the word before it (and may be dropped by
        # folding); a joiner splits or not depending on its neighbours.
        _COMPLEX.add(ch)
        return False
    if _WORDCHAR_RE.match(ch) is None:
        # tokenize() never folds a separator: it only splits there.
        _TABLE[code] = " "
        return True
    folded = fold_word(ch)
    if (
        len(folded) != 1
        or not folded.isalnum()
        or folded.lower() != folded
        or (unicodedata.decomposition(ch).startswith("<"))
    ):
        _COMPLEX.add(ch)
        return False
    _TABLE[code] = folded
    return True


_COMMON_NON_ASCII: list[tuple[str, str]] = []
for _ch in "’‘“”—–…«»¿¡·\u00a0éáíóúñüÉÁÍÓÚÑàèçãõâêô":
    if _learn(_ch):
        _COMMON_NON_ASCII.append((_ch, _TABLE[ord(_ch)]))


def _translated(text: str) -> str | None:
    """`text` folded character by character, or None when that is not exact.

    Separators become spaces, so the result is as long as `text` and every
    word stands where it stood.
    """
    if not text.isascii():
        # The usual suspects first: `in` and replace() are fast scans, and
        # most news text needs nothing else.
        table = _TABLE
        for ch, folded in _COMMON_NON_ASCII:
            if ch in text:
                text = text.replace(ch, folded)
        if not text.isascii():
            chars = set(_NON_ASCII_RE.findall(text))
            for ch in chars:
                if ord(ch) not in table and (ch in _COMPLEX or not _learn(ch)):
                    return None
            # Few distinct characters: replacing each beats translate().
            for ch in chars:
                text = text.replace(ch, table[ord(ch)])
            if not text.isascii():
                return text.translate(table)
    return text.encode("ascii").translate(_ASCII_BYTES).decode("ascii")


class FieldText:
    """One field: original text and its folded stream.

    When folding is one character for one character, `stream` is the folded
    text itself, separators as spaces, so an offset in `stream` IS an offset
    in `text` (`exact`) — unless a run of separators is longer than MAX_GAP:
    such runs are squeezed to one space and `char` adds back what was
    removed before an offset. Otherwise `stream` is the `tokenize` words
    joined by single spaces and `char` maps offsets through the tokens.
    Either way words are the runs of non-spaces of `stream`.
    """

    __slots__ = ("_at", "_ends", "_removed", "_starts", "exact", "name", "stream", "text")
    _starts: dict[int, int]
    _ends: dict[int, int]

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        translated = _translated(text)
        # Squeezed: stream offset after each squeezed run, chars removed so far.
        self._at: list[int] | None = None
        self._removed: list[int] = _NONE
        if translated is None:
            self.exact = False
            self.stream = self._tokenized(text)
        elif _LONG_GAP in translated:
            self.exact = False
            self.stream = self._squeeze(translated)
        else:
            self.exact = True
            self.stream = translated

    def _tokenized(self, text: str) -> str:
        # Tokenized: stream offset of a word's start (end) -> char start (end).
        self._starts: dict[int, int] = {}
        self._ends: dict[int, int] = {}
        parts: list[str] = []
        at = 0
        for token in tokenize(text):
            if parts:
                at += 1
            self._starts[at] = token.start
            at += len(token.word)
            self._ends[at] = token.end
            parts.append(token.word)
        return " ".join(parts)

    def _squeeze(self, translated: str) -> str:
        parts: list[str] = []
        self._at, self._removed = at, done = [], []
        last = removed = 0
        for m in _LONG_RUN.finditer(translated):
            start, end = m.span()
            parts.append(translated[last:start])
            removed += end - start - 1
            at.append(end - removed)
            done.append(removed)
            last = end
        parts.append(translated[last:])
        return " ".join(parts)

    @property
    def words(self) -> list[str]:
        """The folded words, in order."""
        return self.stream.split()

    def word_spans(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """Stream offsets of the words inside stream[start:end]."""
        stop = len(self.stream) if end is None else end
        return [m.span() for m in _WORD.finditer(self.stream, start, stop)]

    @property
    def starts(self) -> list[int]:
        """Start offset in `text` of each word."""
        return [self.char(s, e)[0] for s, e in self.word_spans()]

    @property
    def ends(self) -> list[int]:
        """End offset in `text` of each word."""
        return [self.char(s, e)[1] for s, e in self.word_spans()]

    def char(self, start: int, end: int) -> tuple[int, int]:
        """Offsets in `text` of the words covering stream[start:end]."""
        if self.exact:
            return start, end
        at, removed = self._at, self._removed
        if at is None:
            return self._starts[start], self._ends[end]
        i, j = bisect_right(at, start), bisect_right(at, end)
        return start + (removed[i - 1] if i else 0), end + (removed[j - 1] if j else 0)

    def original(self, start: int, end: int) -> str:
        """The original text of the word at stream[start:end]."""
        lo, hi = self.char(start, end)
        return self.text[lo:hi]


MAX_GAP = 3  # longest run of spaces kept between two words of a stream
_LONG_GAP = " " * (MAX_GAP + 1)
_LONG_RUN = re.compile(_LONG_GAP + " *")  # more than MAX_GAP spaces
_WORD = re.compile("[^ ]+")
_NONE: list[int] = []


class ArticleFields:
    """Title and text of one article, normalised, plus the joint stream."""

    __slots__ = ("_folded", "feed", "fields", "stream", "tags", "text", "text_base", "title")

    def __init__(self, title: str, text: str, feed: str = "", tags: frozenset[str] = frozenset()) -> None:
        self.title = FieldText("title", title)
        self.text = FieldText("text", text)
        self.fields = (self.title, self.text)
        self.stream = " " + self.title.stream + " | " + self.text.stream + " "
        # Where each field's stream starts in `stream` (title at 1).
        self.text_base = len(self.title.stream) + 4
        self.feed = feed
        self.tags = tags
        self._folded: tuple[str, frozenset[str]] | None = None

    def folded_source(self) -> tuple[str, frozenset[str]]:
        """The feed name and tags, folded, for feed: and tag: tests."""
        if self._folded is None:
            from monitor.core.text import fold

            self._folded = (fold(self.feed), frozenset(fold(tag) for tag in self.tags))
        return self._folded
