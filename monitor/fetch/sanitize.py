"""Byte-level defences applied to a feed body before any XML parser sees it.

Owns three things:

* removing DTD internal subsets. A `<!DOCTYPE x [ ... ]>` block can declare
  entities that expand to each other ("billion laughs") or name local files
  (XXE). feedparser strips entity declarations with a regex anchored at the
  start of a line, so a one-line DOCTYPE reaches expat untouched. Here the
  prolog is tokenised (PIs, comments, quoted literals, whitespace and
  newlines anywhere) and every DOCTYPE keeps only its name and external id,
  plus the few *safe* general entities (a single character reference, or a
  short literal with no reference in it) so feeds that declare `&nbsp;` still
  go through the strict parser;
* removing characters XML 1.0 forbids (C0 controls other than tab, CR and LF,
  U+FFFE/U+FFFF, and character references to them), which would otherwise
  send feedparser to its much weaker fallback parser;
* `check_expat()`: a start-up warning when libexpat is too old to have its
  own amplification limit (the second line of defence).

The work is done on text: UTF-16 and UTF-32 bodies (by BOM, or by the NUL
pattern of `<?`) are decoded, cleaned and re-encoded with their BOM; any
other body is treated as ASCII-compatible and mapped 1:1 through Latin-1, so
UTF-8 and the single-byte code pages come back byte for byte except for what
was removed. (`parse.py` hands this module UTF-8 produced by feedparser's own
charset detection, so every encoding feedparser can read is covered.)
"""

from __future__ import annotations

import codecs
import pyexpat
import re
from dataclasses import dataclass

# Entities kept in a DOCTYPE: at most this many, each expanding to at most
# _SAFE_LITERAL characters, so a body can grow by a small constant factor only.
_MAX_SAFE_ENTITIES = 64
_SAFE_LITERAL = 8
_ENTITY_DECL = re.compile(r"<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(\"[^\"]*\"|'[^']*')\s*>", re.IGNORECASE)
_MAX_ROUNDS = 4
_DEFUSE = re.compile(r"<!(?=DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION = re.compile(r"<!(?:ENTITY|ELEMENT|ATTLIST|NOTATION)\b", re.IGNORECASE)
_GENERAL_ENTITY = re.compile(r"<!ENTITY\s+([A-Za-z_][\w.-]*)", re.IGNORECASE)
_ENTITY_REF = re.compile(r"&([A-Za-z_][\w.-]*);")
_PREDEFINED = frozenset({"amp", "lt", "gt", "quot", "apos"})
_CHAR_REF = re.compile(r"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});")
# What the prolog scanner stops at: a PI, a comment, a DOCTYPE, or an element start.
_PROLOG_TOKEN = re.compile(r"<(?:\?|!--|!DOCTYPE|[^\W\d]|[_:])", re.IGNORECASE)
_HEAD_TOKEN = re.compile(r"[\"'>\[]")
_SUBSET_TOKEN = re.compile(r"[\]\"']|<!--|<\?")

# C0 controls XML 1.0 forbids, and the two non-characters.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_C0_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])
_NONCHARACTERS = re.compile(b"\xef\xbf[\xbe\xbf]")  # U+FFFE, U+FFFF in UTF-8
# Character references to the same: &#0; &#x1F; &#65535; ...
_FORBIDDEN_REFS = re.compile(
    r"&#(?:0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|6553[45])"
    r"|[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]|[dD][89a-fA-F][0-9a-fA-F]{2}|[fF]{3}[eEfF]));"
)

_UTF32_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"))
_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_NO_BOM_MARKERS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)


@dataclass(frozen=True)
class SanitizedBody:
    """A cleaned body and a note per kind of removal (a DOCTYPE rewritten
    without losing anything is not noted)."""

    body: bytes
    notes: tuple[str, ...] = ()


def check_expat() -> str | None:
    """A warning when libexpat has no amplification guard (< 2.4.0), else None.

    parse.py strips internal DTD subsets regardless; this is for the log at
    start-up, since an old expat is also open to other known attacks.
    """
    version = tuple(pyexpat.version_info)
    if version < (2, 4, 0):
        found = ".".join(str(part) for part in version)
        return (
            f"libexpat {found} has no protection against entity expansion "
            "(billion laughs); 2.4.0 or later is recommended. Feed DTDs are "
            "stripped before parsing either way."
        )
    return None


def sanitize_xml(body: bytes, *, ascii_compatible: bool = False) -> SanitizedBody:
    """`body` without DTD internal subsets and the characters XML forbids.

    The encoding is sniffed (UTF-16/32 by BOM or NUL pattern, otherwise
    ASCII-compatible) unless `ascii_compatible` says it is UTF-8 or similar.
    """
    codec, bom = (None, b"") if ascii_compatible else _wide_codec(body)
    if codec is None:
        # Latin-1 maps each byte to one character and back: ASCII-level edits
        # leave every other byte (UTF-8 sequences included) as it was.
        raw = _drop_forbidden_bytes(body).decode("latin-1")
        text = _FORBIDDEN_REFS.sub("", raw)
        notes = ["control characters removed"] if len(text) != len(body) else []
        text, dtd_notes = strip_dtd(text)
        out = text.encode("latin-1")
        return SanitizedBody(body if out == body else out, tuple(dtd_notes + notes))
    notes = []
    try:
        text = body[len(bom) :].decode(codec)
    except UnicodeDecodeError:
        text = body[len(bom) :].decode(codec, "replace")
        notes.append(f"undecodable {codec} bytes replaced")
    cleaned, more = sanitize_text(text)
    notes.extend(more)
    if cleaned == text and not notes:
        return SanitizedBody(body)
    return SanitizedBody(bom + cleaned.encode(codec), tuple(notes))


def _drop_forbidden_bytes(body: bytes) -> bytes:
    body = body.translate(None, _C0_BYTES)
    if b"\xef\xbf" in body:
        body = _NONCHARACTERS.sub(b"", body)
    return body


def sanitize_text(text: str) -> tuple[str, list[str]]:
    """The work of `sanitize_xml` on decoded text: the text and its notes.

    Forbidden characters go first: removing them must not be able to form
    a DOCTYPE after the DTD pass (`<!DOC\\0TYPE`).
    """
    cleaned = _FORBIDDEN_REFS.sub("", _FORBIDDEN_CHARS.sub("", text))
    notes = ["control characters removed"] if len(cleaned) != len(text) else []
    cleaned, dtd_notes = strip_dtd(cleaned)
    return cleaned, dtd_notes + notes


def strip_dtd(text: str) -> tuple[str, list[str]]:
    """Rewrite each DOCTYPE of the prolog to its name, external id and safe entities.

    Repeated until nothing changes, since removing references to dropped
    entities could join the pieces of a new DOCTYPE; after a few rounds any
    declaration left is defused outright.
    """
    notes: list[str] = []
    for _ in range(_MAX_ROUNDS):
        cleaned, more = _strip_dtd_once(text)
        notes.extend(note for note in more if note not in notes)
        if cleaned == text:
            return cleaned, notes
        text = cleaned
    notes.append("DTD declarations defused")
    return _DEFUSE.sub("", text), notes


def _strip_dtd_once(text: str) -> tuple[str, list[str]]:
    """One pass of `strip_dtd`.

    The prolog ends at the first element start tag; expat never reads a
    DOCTYPE after that. References to the entities dropped are removed from
    the rest of the text (they would be undefined, which sends feedparser to
    its weaker fallback parser). An unterminated DOCTYPE cuts the text there:
    nothing after it could be parsed anyway.
    """
    parts: list[str] = []
    notes: list[str] = []
    dropped: set[str] = set()
    copied = 0
    i = 0
    while True:
        # Skip stray "<" in C, not one Python step at a time.
        found = _PROLOG_TOKEN.search(text, i)
        if found is None:
            break
        lt = found.start()
        if text.startswith("<?", lt):
            end = text.find("?>", lt + 2)
            if end < 0:
                break
            i = end + 2
        elif text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            if end < 0:
                break
            i = end + 3
        elif text[lt : lt + 9].upper() == "<!DOCTYPE":
            end, replacement, note, names = _rewrite_doctype(text, lt)
            dropped.update(names)
            parts.append(text[copied:lt])
            if replacement.endswith("]>") and lt and text[lt - 1] != "\n":
                # feedparser only recognises a DOCTYPE that starts a line.
                parts.append("\n")
            parts.append(replacement)
            if note and note not in notes:
                notes.append(note)
            copied = i = end
        else:
            break  # the root element: the prolog is over
    if not parts:
        return text, notes
    tail = text[copied:]
    if dropped and len(dropped) <= 256:
        tail = re.sub("&(?:" + "|".join(map(re.escape, sorted(dropped))) + ");", "", tail)
    elif dropped:
        tail = _ENTITY_REF.sub(lambda m: "" if m.group(1) in dropped else m.group(0), tail)
    parts.append(tail)
    return "".join(parts), notes


_UNTERMINATED = "unterminated DOCTYPE removed with the rest of the document"


def _rewrite_doctype(text: str, start: int) -> tuple[int, str, str | None, set[str]]:
    """(end offset, replacement, note, names of entities dropped) for a DOCTYPE."""
    n = len(text)
    j = start + 9
    while (found := _HEAD_TOKEN.search(text, j)) is not None:
        j, c = found.start(), found.group()
        if c in "\"'":
            close = text.find(c, j + 1)
            if close < 0:
                return n, "", _UNTERMINATED, set()
            j = close + 1
        elif c == ">":
            # No internal subset: nothing to expand, keep it as is.
            return j + 1, text[start : j + 1], None, set()
        elif c == "[":
            head = text[start:j].rstrip()
            subset_end = _subset_end(text, j + 1)
            if subset_end is None:
                return n, "", _UNTERMINATED, set()
            gt = text.find(">", subset_end + 1)
            end = n if gt < 0 else gt + 1
            replacement, count, names = _rebuild(head, text[j + 1 : subset_end])
            note = f"DTD internal subset removed ({count} declarations)" if count else None
            return end, replacement, note, names
    return n, "", _UNTERMINATED, set()


def _subset_end(text: str, k: int) -> int | None:
    """Offset of the `]` closing an internal subset starting at `k`, or None."""
    while (found := _SUBSET_TOKEN.search(text, k)) is not None:
        k, c = found.start(), found.group()
        if c == "]":
            return k
        if c in "\"'":
            close = text.find(c, k + 1)
            if close < 0:
                return None
            k = close + 1
        elif text.startswith("<!--", k):
            close = text.find("-->", k + 4)
            if close < 0:
                return None
            k = close + 3
        else:
            close = text.find("?>", k + 2)
            if close < 0:
                return None
            k = close + 2
    return None


def _rebuild(head: str, subset: str) -> tuple[str, int, set[str]]:
    """A DOCTYPE of `head` (name, external id) and the safe entities of `subset`.

    Returns it with the number of declarations dropped and the names of the
    general entities dropped (never one of the five predefined).
    """
    subset = re.sub(r"<!--.*?-->|<\?.*?\?>", " ", subset, flags=re.DOTALL)
    safe: dict[str, str] = {}
    for match in _ENTITY_DECL.finditer(subset):
        name, value = match.group(1), match.group(2)[1:-1]
        if name not in safe and len(safe) < _MAX_SAFE_ENTITIES and _is_safe_value(value):
            safe[name] = value
    declared = len(_DECLARATION.findall(subset))
    dropped = max(declared - len(safe), 0) or (1 if subset.strip() and not safe else 0)
    names = set(_GENERAL_ENTITY.findall(subset)) - set(safe) - _PREDEFINED
    if not safe:
        return head + ">", dropped, names
    lines = "".join(f'<!ENTITY {name} "{value}">\n' for name, value in safe.items())
    # One declaration a line: the form feedparser's own DOCTYPE handling expects.
    return f"{head} [\n{lines}]>", dropped, names


def _is_safe_value(value: str) -> bool:
    if _CHAR_REF.fullmatch(value):
        return True
    # No reference, no markup, nothing feedparser's own DOCTYPE regexes trip on.
    return len(value) <= _SAFE_LITERAL and not any(c in value for c in "&%<>[]\"'")


def _wide_codec(body: bytes) -> tuple[str | None, bytes]:
    """(codec, BOM) for UTF-16/32 bodies, (None, b"") for ASCII-compatible ones."""
    for bom, codec in _UTF32_BOMS:
        if body.startswith(bom):
            return codec, bom
    for bom, codec in _UTF16_BOMS:
        if body.startswith(bom):
            return codec, bom
    head = body[:4]
    for marker, codec in _NO_BOM_MARKERS:
        if head == marker:
            return codec, b""
    # Leading whitespace before "<" in UTF-16 without a BOM: most odd or even
    # bytes of the start are NUL.
    sample = body[:64]
    if len(sample) >= 8:
        even_nul = sample[0::2].count(0) / len(sample[0::2])
        odd_nul = sample[1::2].count(0) / len(sample[1::2])
        if odd_nul > 0.9 and even_nul < 0.1:
            return "utf-16-le", b""
        if even_nul > 0.9 and odd_nul < 0.1:
            return "utf-16-be", b""
    return None, b""
