"""How a `/regex/` term runs: on RE2 in linear time, or on a bounded fallback.

Owns the engines behind the query language's regular expressions and the
limits that keep a hostile pattern or text from stalling the daemon.
Patterns are written in Python's `re` syntax and keep Python's meaning.

- RE2 (`google-re2`) runs every pattern it can (see `re2syntax` for the
  translation): its time is linear in the text, and it releases the
  interpreter lock while it searches, so other threads keep running.
- A pattern that needs what RE2 lacks (a backreference, look-around, ...)
  may come only from a trusted author — the config file, or `monitor test`
  on the command line. It runs on the third-party `regex` module, which
  releases the interpreter lock too (`concurrent=True`) and is stopped after
  `FALLBACK_TIMEOUT` seconds per field: `spans` then raises `RegexTimeout`,
  and the caller skips the pattern for that article. Patterns typed into
  the dashboard must run on RE2 (`compile_pattern(..., allow_fallback=False)`).
- Either engine sees at most the first `MAX_TEXT_CHARS` characters of a
  field and reports at most `MAX_MATCHES` matches per field.

We never fall back silently to the backtracking `re` engine: `re2` must be
Google's binding (which raises on what it cannot compile), and a compiled
pattern that turns out to be an `re.Pattern` is refused.
"""

from __future__ import annotations

import re
import time

import re2
import regex

from monitor.core.query.re2syntax import Unsupported, python_flags, translate
from monitor.errors import MonitorError

MAX_TEXT_CHARS = 100_000
MAX_MATCHES = 100
FALLBACK_TIMEOUT = 0.1  # seconds per field
ENGINE_RE2 = "re2"
ENGINE_FALLBACK = "fallback"

_SURROGATES = re.compile("[\ud800-\udfff]")
_CUT = "\uffff"  # a Unicode non-character: ends a text cut at MAX_TEXT_CHARS


class RegexTimeout(MonitorError):
    """A fallback pattern ran out of time on one field of one article."""

    def __init__(self, label: str, seconds: float) -> None:
        self.label = label
        self.seconds = seconds
        super().__init__(f"regular expression {label} ran out of time ({seconds:g} s)")


class NeedsFallback(ValueError):
    """A pattern only the fallback engine can run, where it may not."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RegexPattern:
    """A compiled `/regex/`. `spans(text)` lists where it matches (non-empty
    matches, character offsets into `text`); `engine` is "re2" or "fallback",
    `fallback_reason` why RE2 could not run it."""

    engine = ENGINE_RE2
    fallback_reason: str | None = None

    def __init__(self, source: str, ignorecase: bool, label: str | None = None) -> None:
        self.source = source
        self.ignorecase = ignorecase
        self.label = label or "/" + ("" if ignorecase else "(?-i)") + source.replace("/", "\\/") + "/"

    def spans(self, text: str, limit: int = MAX_MATCHES) -> list[tuple[int, int]]:
        raise NotImplementedError

    def search(self, text: str) -> tuple[int, int] | None:
        """The first match, or None."""
        found = self.spans(text, 1)
        return found[0] if found else None

    def matches_empty(self) -> bool:
        """True when the pattern matches the empty text."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


class Re2Pattern(RegexPattern):
    """A pattern RE2 runs, translated to RE2 syntax with Python's meaning."""

    def __init__(self, source: str, ignorecase: bool, label: str | None = None) -> None:
        super().__init__(source, ignorecase, label)
        translation = translate(source, python_flags(ignorecase))
        options = re2.Options()
        options.log_errors = False  # RE2 would print to stderr
        try:
            compiled = re2.compile(translation.pattern, options)
        except re2.error as exc:
            message = (
                exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            )
            raise Unsupported(f"cannot be compiled by RE2 ({message})") from exc
        if isinstance(compiled, re.Pattern):  # pragma: no cover - a binding that falls back to re
            raise TypeError("the re2 module fell back to Python's re; install google-re2")
        self._compiled = compiled
        self._restart = compiled if translation.restart is None else re2.compile(translation.restart, options)
        self._group = translation.group
        self._context = translation.context

    def spans(self, text: str, limit: int = MAX_MATCHES) -> list[tuple[int, int]]:
        text = _capped(text)
        if not text:
            return []
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: one U+FFFD each keeps the offsets
            data = _SURROGATES.sub("\ufffd", text).encode("utf-8")
        found: list[tuple[int, int]] = []
        search, group, pos = self._compiled.search, self._group, 0
        while len(found) < limit:
            match = search(data, pos)
            search = self._restart.search
            if match is None:
                break
            start, end = match.span(group)
            if end <= start:  # pragma: no cover - patterns that can match empty text run on the fallback
                break
            found.append((start, end))
            pos = end
            if self._context:
                # The next match may use the last character as its context.
                pos -= 1
                while data[pos] & 0xC0 == 0x80:
                    pos -= 1
        if len(data) != len(text):
            found = _char_offsets(data, found)
        return _clipped(found)

    def matches_empty(self) -> bool:
        return False  # translate() refuses patterns that can


class FallbackPattern(RegexPattern):
    """A trusted pattern RE2 cannot run: the `regex` module, off the
    interpreter lock, stopped after FALLBACK_TIMEOUT seconds per field."""

    engine = ENGINE_FALLBACK

    def __init__(self, source: str, ignorecase: bool, reason: str, label: str | None = None) -> None:
        super().__init__(source, ignorecase, label)
        self.fallback_reason = reason
        re.compile(source, python_flags(ignorecase))  # re's own rules decide what is valid
        try:
            self._compiled = regex.compile(source, regex.VERSION0 | (regex.IGNORECASE if ignorecase else 0))
        except regex.error as exc:  # pragma: no cover - regex accepts what re does
            raise re.error(str(exc)) from exc

    def spans(self, text: str, limit: int = MAX_MATCHES) -> list[tuple[int, int]]:
        text = _capped(text)
        found: list[tuple[int, int]] = []
        # regex's timeout bounds each step of the iteration; the deadline bounds them all.
        deadline = time.monotonic() + FALLBACK_TIMEOUT
        try:
            for match in self._compiled.finditer(text, timeout=FALLBACK_TIMEOUT, concurrent=True):
                if match.end() > match.start():
                    found.append(match.span())
                    if len(found) >= limit:
                        break
                if time.monotonic() > deadline:
                    raise RegexTimeout(self.label, FALLBACK_TIMEOUT)
        except TimeoutError as exc:
            raise RegexTimeout(self.label, FALLBACK_TIMEOUT) from exc
        return _clipped(found)

    def matches_empty(self) -> bool:
        try:
            return self._compiled.search("", timeout=FALLBACK_TIMEOUT, concurrent=True) is not None
        except TimeoutError:  # pragma: no cover - nothing to backtrack over in ""
            return False


def compile_pattern(
    source: str, ignorecase: bool, *, allow_fallback: bool = True, label: str | None = None
) -> RegexPattern:
    """`source` (Python syntax) on RE2, or, when RE2 cannot run it and
    `allow_fallback`, on the bounded fallback engine.

    Raises `re.error` for a pattern Python's `re` rejects, RecursionError for
    one nested too deeply, and `NeedsFallback` (with the reason) for one only
    the fallback can run when it is not allowed. `label` is how messages
    name the pattern (the query's `/.../`).
    """
    try:
        return Re2Pattern(source, ignorecase, label)
    except Unsupported as exc:
        if not allow_fallback:
            raise NeedsFallback(exc.reason) from exc
        return FallbackPattern(source, ignorecase, exc.reason, label)


def _capped(text: str) -> str:
    """The first MAX_TEXT_CHARS characters; a cut text ends with a
    non-character, so `$` and `\\Z` do not match where it was cut."""
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + _CUT


def _clipped(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans within the first MAX_TEXT_CHARS characters (none on `_CUT`)."""
    if spans and spans[-1][1] > MAX_TEXT_CHARS:
        spans = [(s, min(e, MAX_TEXT_CHARS)) for s, e in spans if s < MAX_TEXT_CHARS]
    return spans


def _char_offsets(data: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """UTF-8 byte offsets (ascending, at character boundaries) to character offsets."""
    out: list[tuple[int, int]] = []
    byte = char = 0
    for start, end in spans:
        char += len(data[byte:start].decode("utf-8"))
        first = char
        char += len(data[start:end].decode("utf-8"))
        byte = end
        out.append((first, char))
    return out
