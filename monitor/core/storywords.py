"""Words as story comparison sees them.

Case-folded, compatibility-decomposed, every combining mark dropped, split
on anything not a letter or digit: `story_words` is the plain definition,
`word_text` / `word_bytes` the fast forms that give the same words as UTF-8
bytes (tests/unit/test_story_signature_speedups.py holds them to it). Pure
functions; the memos of per-character folds are bounded and shared by the
threads of one process (a lost race only computes a fold twice).
"""

from __future__ import annotations

import re
import unicodedata
from typing import cast

import regex

__all__ = ["story_words", "word_bytes", "word_text"]

# Coarser than the matcher's words (core.text), on purpose: one C-level
# pass over the whole text instead of a fold per word, and copies of one
# story are normalised alike whatever their script.
_MARKS = regex.compile(r"\p{M}+")
_TOKEN = re.compile(r"[^\W_]+")
# The same words in ASCII text (where case-folding is lower() and NFKD does
# nothing): a plain character class, which `re` scans faster.
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
# What `_TOKEN` matches in a folded text that came out ASCII (most Latin
# scripts once their accents are gone): exactly \w minus _ there, uppercase
# included (NFKD makes "H" of "ℌ", which case-folding left alone).
_FOLDED_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")


def story_words(text: str) -> list[str]:
    """The words of `text` as story comparison sees them."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    folded = unicodedata.normalize("NFKD", text.casefold())
    if folded.isascii():
        return _FOLDED_ASCII_TOKEN.findall(folded)
    folded = _MARKS.sub("", folded)
    return (_FOLDED_ASCII_TOKEN if folded.isascii() else _TOKEN).findall(folded)


# The ASCII words again, on the text's bytes: every byte that is not a
# letter or digit becomes a space and capitals become small letters in one
# `translate`, then `split` — four times faster than the pattern, and the
# words come out as the bytes `zlib.crc32` takes.
_ASCII_WORD_BYTES = bytes(c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


# Folded text on its UTF-8 bytes: ASCII letters (capitals too: NFKD makes
# "H" of "ℌ") and digits stay, other ASCII bytes become spaces, and bytes of
# the non-ASCII letters left in (≥ 0x80) stay inside their word.
_FOLDED_WORD_BYTES = bytes(
    c if c >= 128 or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 else 32 for c in range(256)
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# What becomes of a non-ASCII character of folded text: "" (a combining
# mark, dropped), itself (a letter or digit: part of a word) or " " (a
# separator), decided by the very patterns `story_words` uses.
_CHAR_FATES: dict[str, str] = {}
_CHAR_FATES_KEPT = 20_000
# A text with more distinct non-ASCII characters to drop or replace than
# this takes the pattern path (a `replace` pass per character).
_MAX_REPLACED_CHARS = 64


def _fate(char: str) -> str:
    fate = _CHAR_FATES.get(char)
    if fate is None:
        fate = "" if _MARKS.fullmatch(char) else char if _TOKEN.fullmatch(char) else " "
        if len(_CHAR_FATES) < _CHAR_FATES_KEPT:
            _CHAR_FATES[char] = fate
    return fate


# What case-folding, NFKD and the fates above make of one non-ASCII
# character, when that is ASCII without capitals (é → "e", ß → "ss",
# ’ → " ", a mark → ""); None when it is not (漢, or ℌ → "H").
_ASCII_FOLDS: dict[str, str | None] = {}
# A text with more distinct non-ASCII characters than this is folded whole.
_MAX_QUICK_CHARS = 32


def _ascii_fold(char: str) -> str | None:
    if char in _ASCII_FOLDS:
        return _ASCII_FOLDS[char]
    folded = "".join(part if part.isascii() else _fate(part) for part in unicodedata.normalize("NFKD", char.casefold()))
    fold = folded if folded.isascii() and not any("A" <= part <= "Z" for part in folded) else None
    if len(_ASCII_FOLDS) < _CHAR_FATES_KEPT:
        _ASCII_FOLDS[char] = fold
    return fold


def _ascii_folded(text: str) -> str | None:
    """`text` with each non-ASCII character replaced by its `_ascii_fold`,
    or None when one has none (or there are too many to replace).

    Case-folding and NFKD work character by character (NFKD reorders only
    combining marks, and every mark is dropped here), so folding each
    distinct character once and lower-casing the ASCII rest gives the words
    of the whole text folded: Latin-script news (accents, typographic
    quotes and dashes) skips a case-fold, an NFKD and a search of the whole
    text. Each replacement is ASCII, so none is replaced again.
    """
    first = _NON_ASCII.search(text)
    if first is None or _ascii_fold(first.group()) is None:
        return None  # Cyrillic, CJK, Arabic…: known from the first character, before any scan of the rest
    chars = [char for char in set(text) if not char.isascii()]
    if len(chars) > _MAX_QUICK_CHARS:
        return None
    folds = {char: _ascii_fold(char) for char in chars}
    if None in folds.values():  # checked before any replacing
        return None
    for char, fold in folds.items():
        text = text.replace(char, cast(str, fold))
    return text


def word_text(text: str) -> bytes:
    """The UTF-8 of the words of `story_words(text)`, in order, between
    runs of spaces (b" "): `.split()` gives the words.

    Made on bytes: ASCII text as it is; text whose non-ASCII characters
    all fold to ASCII (`_ascii_folded`) once they are replaced; other text
    once folded whole, its few distinct non-ASCII characters dropped
    (marks) or made spaces (curly quotes, dashes) by a `replace` each, and
    with too many of them the pattern path of `story_words`.
    """
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORD_BYTES)
    quick = _ascii_folded(text)
    if quick is not None:
        return quick.encode("ascii").translate(_ASCII_WORD_BYTES)
    folded = unicodedata.normalize("NFKD", text.casefold())
    replaced = 0
    for char in set(_NON_ASCII.findall(folded)):
        fate = _fate(char)
        if fate != char:
            replaced += 1
            if replaced > _MAX_REPLACED_CHARS:
                return b" ".join(word.encode() for word in story_words(text))
            folded = folded.replace(char, fate)
    return folded.encode().translate(_FOLDED_WORD_BYTES)


def word_bytes(text: str) -> list[bytes]:
    """The UTF-8 of each word of `story_words(text)`."""
    return word_text(text).split()
