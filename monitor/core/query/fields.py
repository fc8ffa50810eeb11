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
from collections.abc import Iterable, Sequence

from monitor.core.text import fold_word, tokenize

FIELD_NAMES = ("title", "text")
_WORDCHAR_RE = re.compile(r"[^\W_]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")

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
        # tokenize() never folds a separator: it only splits there.
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
    return text.translate(_ASCII_TABLE)


class FieldText:
    """One field: original text, folded stream, word offsets when asked."""

    __slots__ = ("name", "text", "stream", "_translated", "_spans", "_stream_pos")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        translated = _translated(text)
        self._translated = translated
        self._spans: dict[int, tuple[int, int]] = {}
        self._stream_pos: dict[int, int] = {}  # word index -> offset in stream
        if translated is not None:
            self.stream = " ".join(translated.split())
        else:
            tokens = tokenize(text)
            self.stream = " ".join(t.word for t in tokens)
            self._spans = {i: (t.start, t.end) for i, t in enumerate(tokens)}

    @property
    def words(self) -> list[str]:
        """The folded words, in order."""
        return self.stream.split()

    @property
    def starts(self) -> list[int]:
        """Start offset in `text` of each word."""
        return [start for start, _ in self.spans(range(self.stream.count(" ") + 1 if self.stream else 0))]

    @property
    def ends(self) -> list[int]:
        """End offset in `text` of each word."""
        return [end for _, end in self.spans(range(self.stream.count(" ") + 1 if self.stream else 0))]

    def spans(self, indexes: Iterable[int]) -> list[tuple[int, int]]:
        """Character offsets in `text` of the words at `indexes`."""
        cache = self._spans
        indexes = list(indexes)
        missing = [i for i in indexes if i not in cache]
        if missing:
            self._resolve(sorted(set(missing)))
        return [cache[i] for i in indexes]

    def note(self, index: int, stream_offset: int) -> None:
        """Remember that word `index` starts at `stream_offset` in `stream`."""
        self._stream_pos[index] = stream_offset

    def _resolve(self, indexes: list[int]) -> None:
        # One pass from the start of the text over all wanted words, sorted.
        # `text` holds the same words as `stream` with longer runs of spaces:
        # a word whose stream offset is known lies where as many non-space
        # characters come before it (found with str.count, each scan
        # continuing where the last stopped); other words are reached by
        # skipping words inside the regex engine.
        text = self._translated
        assert text is not None
        cache = self._spans
        stream_pos = self._stream_pos
        word, pos = 0, _SPACES.match(text, 0).end()  # type: ignore[union-attr]
        solid = 0  # non-space characters before `pos`
        for index in indexes:
            at = stream_pos.get(index)
            if at is not None:
                before = at - index  # non-space characters before the word
                lo, spaces = pos, pos - solid
                hi = before + spaces
                while hi > lo:
                    spaces += text.count(" ", lo, hi)
                    lo, hi = hi, before + spaces
                pos = _SPACES.match(text, lo).end()  # type: ignore[union-attr]
                solid = before
            else:
                k = index - word
                while k >= _SKIP_MAX:
                    pos = _skip(_SKIP_MAX).match(text, pos).end()  # type: ignore[union-attr]
                    k -= _SKIP_MAX
                if k:
                    pos = _skip(k).match(text, pos).end()  # type: ignore[union-attr]
                solid = pos - text.count(" ", 0, pos)
            word = index
            end = text.find(" ", pos)
            cache[index] = (pos, len(text) if end == -1 else end)

    def original(self, index: int) -> str:
        """The original text of word `index`."""
        start, end = self.spans((index,))[0]
        return self.text[start:end]

    def char_span(self, first: int, end: int) -> tuple[int, int]:
        """Character offsets in `text` of words [first, end)."""
        (start, _), (_, stop) = self.spans((first, end - 1))
        return start, stop


_SKIP_MAX = 64
_SPACES = re.compile(" *")
_SKIPS: dict[int, re.Pattern[str]] = {}


def _skip(count: int) -> re.Pattern[str]:
    """A pattern that moves from a word's start over `count` words."""
    pattern = _SKIPS.get(count)
    if pattern is None:
        pattern = _SKIPS[count] = re.compile(r"(?:\S+ +){%d}" % count)
    return pattern


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

    def positions(self, hits: Iterable[tuple[int, int]], keylens: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
        """Automaton hits (end, key) -> {key: [(field index, word index)]}.

        Hits come in order of their end; word indexes are counted
        incrementally, so all hits together cost about one scan.
        """
        stream = self.stream
        text_base = self.text_base
        notes = (self.title._stream_pos, self.text._stream_pos)
        out: dict[int, list[tuple[int, int]]] = {}
        last_start, last_index, last_field = 1, 0, 0
        for end, key in hits:
            start = end - keylens[key] + 2  # the key's first word
            if start >= text_base:
                field, base = 1, text_base
            else:
                field, base = 0, 1
            if field == last_field and start >= last_start:
                index = last_index + stream.count(" ", last_start, start)
            else:
                index = stream.count(" ", base, start)
            last_start, last_index, last_field = start, index, field
            notes[field][index] = start - base
            found = out.get(key)
            if found is None:
                out[key] = [(field, index)]
            else:
                found.append((field, index))
        return out
