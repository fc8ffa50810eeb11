"""One article, normalised once: folded words per field and their offsets.

Owns the fast path of folding. `monitor.core.text.tokenize` is the
definition of words; here the common case (ASCII, and Latin, Greek or
Cyrillic letters whose folding is one character for one character) is done
with one `str.translate` per field, which keeps every character where it was,
so offsets into the original text come for free. Anything else (combining
marks, ligatures, "ß", digits like "½") falls back to `tokenize`. A property
test checks that both ways give the same words and offsets.

`FieldText.stream` is the presearch form: the folded words joined by single
spaces. `ArticleFields.stream` puts the title's and the text's streams in one
string, " title words | text words ", so one automaton pass sees both and no
phrase can run from one field into the other.
"""

from __future__ import annotations

import re
import unicodedata

from monitor.core.text import fold_word, tokenize

FIELD_NAMES = ("title", "text")
_WORDCHAR_RE = re.compile(r"[^\W_]")
_RUN_RE = re.compile(r"\S+")

# ord -> folded character; " " for a separator. Filled lazily per character.
_TABLE: dict[int, str] = {}
_COMPLEX: set[str] = set()
for _code in range(128):
    _ch = chr(_code)
    _TABLE[_code] = _ch.lower() if _ch.isalnum() else " "
_ASCII_TABLE = dict(_TABLE)
# Scripts whose letters fold one-to-one and never compose under NFKC.
_SIMPLE_RANGES = ((0x80, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x2000, 0x206F))


def _learn(ch: str) -> bool:
    """Add `ch` to the fast table if it folds one-to-one; False if not."""
    code = ord(ch)
    if not any(lo <= code <= hi for lo, hi in _SIMPLE_RANGES):
        _COMPLEX.add(ch)
        return False
    if unicodedata.combining(ch):
        _COMPLEX.add(ch)
        return False
    if _WORDCHAR_RE.match(ch) is None:
        # A separator stays a separator (also as part of a word's folding).
        if unicodedata.normalize("NFKC", ch) != ch:
            _COMPLEX.add(ch)
            return False
        _TABLE[code] = " "
        return True
    folded = fold_word(ch)
    if len(folded) != 1 or not folded.isalnum() or folded.lower() != folded or (
        unicodedata.decomposition(ch).startswith("<")
    ):
        _COMPLEX.add(ch)
        return False
    _TABLE[code] = folded
    return True


def _translated(text: str) -> str | None:
    """`text` folded character by character, or None when that is not exact."""
    if text.isascii():
        return text.translate(_ASCII_TABLE)
    table = _TABLE
    for ch in set(text):
        if ord(ch) not in table and (ch in _COMPLEX or not _learn(ch)):
            return None
    return text.translate(table)


class FieldText:
    """One field: original text, folded words, offsets (computed when asked)."""

    __slots__ = ("name", "text", "words", "stream", "_translated", "_starts", "_ends")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        translated = _translated(text)
        self._translated = translated
        self._starts: list[int] | None = None
        self._ends: list[int] | None = None
        if translated is not None:
            self.words = translated.split()
        else:
            tokens = tokenize(text)
            self.words = [t.word for t in tokens]
            self._starts = [t.start for t in tokens]
            self._ends = [t.end for t in tokens]
        self.stream = " ".join(self.words)

    def _offsets(self) -> None:
        assert self._translated is not None
        starts: list[int] = []
        ends: list[int] = []
        for m in _RUN_RE.finditer(self._translated):
            starts.append(m.start())
            ends.append(m.end())
        self._starts, self._ends = starts, ends

    @property
    def starts(self) -> list[int]:
        """Start offset in `text` of each word."""
        if self._starts is None:
            self._offsets()
        assert self._starts is not None
        return self._starts

    @property
    def ends(self) -> list[int]:
        """End offset in `text` of each word."""
        if self._ends is None:
            self._offsets()
        assert self._ends is not None
        return self._ends

    def original(self, index: int) -> str:
        """The original text of word `index`."""
        return self.text[self.starts[index] : self.ends[index]]

    def char_span(self, first: int, end: int) -> tuple[int, int]:
        """Character offsets in `text` of words [first, end)."""
        return self.starts[first], self.ends[end - 1]


class ArticleFields:
    """Title and text of one article, normalised, plus the joint stream."""

    __slots__ = ("title", "text", "fields", "stream", "text_base", "feed", "tags", "_folded")

    def __init__(self, title: str, text: str, feed: str = "", tags: frozenset[str] = frozenset()) -> None:
        self.title = FieldText("title", title)
        self.text = FieldText("text", text)
        self.fields = (self.title, self.text)
        self.stream = " " + self.title.stream + " | " + self.text.stream + " "
        # Index in `stream` of the text's first word.
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

    def position(self, start: int) -> tuple[int, int]:
        """(field index, word index) of the word starting at `start` in `stream`."""
        if start < self.text_base:
            return 0, self.stream.count(" ", 1, start)
        return 1, self.stream.count(" ", self.text_base, start)
