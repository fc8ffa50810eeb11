"""Full text: whether to fetch an entry's page, and whether its text is worth using.

Pure decision rules, no I/O. Words are counted as matching counts them
(`monitor.core.text.words`: folded, accents off, apostrophes split).

`wants_page(mode, text, min_words)` — whether to fetch the article page of a
new entry, from the feed's own text (summary and content as plain text):

- `never`: no; `always`: yes;
- `auto`: yes when the text has fewer than `min_words` words, or when it
  looks like a teaser whatever its length (`is_teaser`).

`is_teaser(text)` — the text ends the way publishers end a cut-off excerpt.
Only its last line (within the last 160 characters) is looked at,
case-folded and without accents, trailing spaces, quotes, arrows and closing
punctuation ignored. Teaser endings:

- an ellipsis: "…", "...", "[…]", "[...]", "(…)", "(...)";
- a link phrase ending the line: English "read more", "continue reading",
  "keep reading", "read the full story/article", "full story"; Spanish "leer
  más", "lee más", "seguir leyendo", "sigue leyendo", "(leer la) nota
  completa"; French "lire la suite", "en savoir plus"; Portuguese "leia
  mais", "continue lendo", "saiba mais"; German "weiterlesen", "mehr lesen";
  Italian "leggi tutto", "continua a leggere";
- a last line that is only "More", "See more", "Más", "Ver más", "Plus",
  "Mehr", "Read", "Leer", "Continue" or "Seguir" (ending a sentence, these
  are just words);
- WordPress's "Continue reading “Title”" (and its Spanish, French and German
  forms), and its feed footer "The post … appeared first on …" / "La
  entrada … se publicó primero en …".

`page_adds(feed_text, page_text)` — whether the extracted page text should be
used at all. Yes when both hold:

1. it is longer: more words than the feed's text (a page that says no more
   than the feed — a full-content feed, or an extraction that found only a
   stub — adds nothing);
2. it is the same article: at least half of the feed text's distinct words of
   four or more characters occur in the page (short words are left out
   because every page has them). A login or paywall page, a consent wall, an
   error page or another article shares almost none of the summary's words.
   A feed text with fewer than 5 such words cannot be judged, and passes.

A teaser that is a prefix of the page passes both by construction.

`article_text(feed_text, page_text)` — the body that matching sees: the
page's text when it adds, else the feed's. The page text replaces the
feed text rather than being appended to it: a teaser is nearly always the
page's first paragraph, and counting it twice would double its words in
scores and story similarity.
"""

from __future__ import annotations

import re
import unicodedata

from monitor.core.text import words

__all__ = ["MODES", "article_text", "is_teaser", "page_adds", "wants_page"]

MODES = ("auto", "always", "never")
# Words of at least this many characters are compared by `page_adds`.
_CONTENT_WORD = 4
# Share of the feed's content words the page must contain, and how many it needs to judge.
_SAME_ARTICLE = 0.5
_JUDGEABLE = 5
_TAIL = 160

# Trailing decoration after a teaser marker: quotes, arrows, brackets, closing punctuation.
_DECOR = " \t\n\"'”’»›>→⟶▸▶}:;,!-–—|*"
_TRAILING = _DECOR + ".)]"
_ELLIPSIS = re.compile(r"(?:…|\.\.\.|\[\s*(?:…|\.\.\.)\s*\]|\(\s*(?:…|\.\.\.)\s*\))$")
_PHRASES = (
    "read more",
    "continue reading",
    "keep reading",
    "read the full story",
    "read the full article",
    "read full story",
    "read full article",
    "full story",
    "leer mas",
    "lee mas",
    "seguir leyendo",
    "sigue leyendo",
    "nota completa",
    "leer nota completa",
    "leer la nota completa",
    "lire la suite",
    "en savoir plus",
    "leia mais",
    "continue lendo",
    "saiba mais",
    "weiterlesen",
    "mehr lesen",
    "leggi tutto",
    "continua a leggere",
)
# A phrase counts when it ends the text and starts a word (folded text: accents gone).
_PHRASE_END = re.compile(r"(?:^|[^\w])(?:" + "|".join(re.escape(p) for p in _PHRASES) + r")$")
# Words that mark a teaser only as a line of their own ("More »"): ending a sentence they are just words.
_LINK_WORDS = frozenset({"more", "see more", "mas", "ver mas", "plus", "mehr", "read", "leer", "continue", "seguir"})
# WordPress's "Continue reading “Title” →", and its translations: the phrase, then the quoted title.
_CONTINUE_TITLE = re.compile(
    r"(?:^|[^\w])(?:continue reading|keep reading|seguir leyendo|sigue leyendo|lire la suite"
    r"|continuar leyendo|weiterlesen)\s*[\"“'‘«„].{0,150}$"
)
_WORDPRESS_FOOTER = re.compile(r"(?:the post .+ appeared first on .+|la entrada .+ se publico primero en .+)$")


def wants_page(mode: str, text: str, min_words: int) -> bool:
    """Whether to fetch an entry's article page, given the feed's text for it (see the module docstring)."""
    if mode == "never":
        return False
    if mode == "always":
        return True
    if mode != "auto":
        raise ValueError(f"unknown full-text mode {mode!r} (expected one of {', '.join(MODES)})")
    return _fewer_words(text, min_words) or is_teaser(text)


def is_teaser(text: str) -> bool:
    """Whether `text` ends like a cut-off excerpt (an ellipsis or a "read more" link)."""
    # Only the last line: a "More" heading earlier in a full text is not a teaser mark.
    last = _plain(text[-_TAIL:].rstrip().rsplit("\n", 1)[-1])
    if not last:
        return False
    if _WORDPRESS_FOOTER.search(last) or _CONTINUE_TITLE.search(last) or _ELLIPSIS.search(last.rstrip(_DECOR)):
        return True
    last = last.rstrip(_TRAILING)
    return last in _LINK_WORDS or bool(_PHRASE_END.search(last))


def page_adds(feed_text: str, page_text: str) -> bool:
    """Whether the page's extracted text should be used for an entry (see the module docstring)."""
    if not page_text.strip():
        return False
    feed_words = words(feed_text)
    page_words = words(page_text)
    if len(page_words) <= len(feed_words):
        return False
    wanted = {word for word in feed_words if len(word) >= _CONTENT_WORD}
    if len(wanted) < _JUDGEABLE:
        return True
    found = wanted.intersection(page_words)
    return len(found) >= _SAME_ARTICLE * len(wanted)


def article_text(feed_text: str, page_text: str) -> str:
    """The body matching sees: the page's text when it adds to the feed's, else the feed's."""
    return page_text if page_adds(feed_text, page_text) else feed_text


def _fewer_words(text: str, limit: int) -> bool:
    """Whether `text` has fewer than `limit` words, without splitting all of a long text."""
    if limit <= 0:
        return False
    # Each word takes at least two characters with its separator: a prefix usually settles it.
    prefix = text[: limit * 64]
    if len(words(prefix)) >= limit:
        return False
    return prefix is text or len(words(text)) < limit


def _plain(line: str) -> str:
    """The line case-folded, accents off, punctuation kept, spaces single."""
    decomposed = unicodedata.normalize("NFKD", line)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())
