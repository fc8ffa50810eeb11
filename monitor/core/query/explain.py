"""Why a query matched an article, or why not, in plain lines.

Owns the explanation format. Each line starts with ✓ (matched) or ✗ (did
not) and is indented under its operator, for example:

    ✗ AND — 1 of 2 parts matched
      ✓ cartel* — 2 occurrences: title "Cárteles", text "cartel"
      ✗ NEAR/5 failed: closest pair 9 words apart
        ✓ "security agreement" — 1 occurrence: text "security agreement"
        ✓ mexico — 1 occurrence: text "México"

A matching query also gets its highlighted snippets ("why yes"), shown
as text lines with `^` under the matched words (`snippet_lines`): feed text
is printed as it is, never with markers a publisher could fake.
Evaluation is the engine's own: the query is compiled into a one-watchlist
program and run over the article.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.core.query.ast import EntitySpec, Node
from monitor.core.query.compile import KeyTable, Program, build_watchlist
from monitor.core.query.evaluate import (
    TRUE_OCC,
    ArticleContext,
    CAnd,
    CEntity,
    CNear,
    CNode,
    CNot,
    COr,
    CRegex,
    CSource,
    CTerm,
    Occ,
    leaves_of,
)
from monitor.core.query.fields import FIELD_NAMES, ArticleFields
from monitor.core.query.parser import parse
from monitor.core.query.patterns import RegexTimeout
from monitor.core.query.report import highlighted_snippets, hits_of
from monitor.models import Snippet

MAX_SHOWN = 3


class ArticleLike(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def feed(self) -> str: ...
    @property
    def tags(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Explanation:
    """`matched`, the indented `lines`, and highlighted `snippets` if matched."""

    matched: bool
    lines: tuple[str, ...]
    snippets: tuple[Snippet, ...] = ()

    def __str__(self) -> str:
        out = list(self.lines)
        for snippet in self.snippets:
            out.extend(snippet_lines(snippet, "  > "))
        return "\n".join(out)


# What a terminal must not be sent from feed text (escape sequences, bidi
# overrides): each becomes one U+FFFD, so offsets and columns still line up.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _columns(ch: str) -> int:
    """Terminal columns of one character: 0 for marks and invisible format
    characters, 2 for wide East Asian ones, else 1."""
    category = unicodedata.category(ch)
    if category in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def snippet_lines(snippet: Snippet, prefix: str = "") -> list[str]:
    """A snippet for a terminal: its text after `prefix`, and, if it has
    matches, a line with `^` under each matched character."""
    text = _UNPRINTABLE.sub("\ufffd", snippet.text)
    lines = [prefix + text]
    if snippet.marks:
        carets: list[str] = []
        at = 0
        for start, end in snippet.marks:
            carets.append(" " * sum(_columns(ch) for ch in text[at:start]))
            carets.append("^" * max(sum(_columns(ch) for ch in text[start:end]), 1))
            at = end
        lines.append(" " * len(prefix) + "".join(carets))
    return lines


def explain(query: str, article: ArticleLike, entities: Mapping[str, EntitySpec] | None = None) -> Explanation:
    """Explain `query` (parsed here; QueryError if bad) against `article`."""
    entities = entities or {}
    return explain_nodes([parse(query, set(entities))], article, entities)


def explain_nodes(parts: list[Node], article: ArticleLike, entities: Mapping[str, EntitySpec]) -> Explanation:
    """Explain the OR of already-checked trees (a whole watchlist)."""
    table = KeyTable()
    watchlist = build_watchlist("explain", parts, entities, table)
    program = Program([watchlist], table)
    fields = ArticleFields(article.title, article.text, article.feed, article.tags)
    _, ctx = program.presearch(fields)
    lines: list[str] = []
    try:
        _explain(watchlist.node, ctx, 0, lines)
        occs = watchlist.node.occurrences(ctx)
    except RegexTimeout as exc:
        why = f"✗ {exc.label} ran out of time ({exc.seconds:g} s) on this article: the watchlist does not match it"
        return Explanation(False, (why,))
    snippets: tuple[Snippet, ...] = ()
    if occs:
        hits = hits_of(leaves_of(occs), fields)
        snippets = highlighted_snippets(hits, fields) if hits else ()
    return Explanation(bool(occs), tuple(lines), snippets)


def describe(node: CNode) -> str:
    """Query-like text for a compiled node."""
    if isinstance(node, (CTerm, CRegex, CEntity, CSource)):
        return node.label
    if isinstance(node, CNot):
        return "NOT " + describe(node.child)
    if isinstance(node, CNear):
        op = "ONEAR" if node.ordered else "NEAR"
        return f"{describe(node.left)} {op}/{node.distance} {describe(node.right)}"
    joiner = " AND " if isinstance(node, CAnd) else " OR "
    return "(" + joiner.join(describe(child) for child in node.children) + ")"


def _explain(node: CNode, ctx: ArticleContext, depth: int, lines: list[str]) -> bool:
    occs = node.occurrences(ctx)
    ok = bool(occs)
    pad = "  " * depth + ("✓ " if ok else "✗ ")
    if isinstance(node, (CTerm, CRegex, CEntity)):
        lines.append(pad + _leaf_line(node, occs, ctx))
    elif isinstance(node, CSource):
        feed, tags = ctx.fields.folded_source()
        have = f'feed "{feed}"' if node.kind == "feed" else "tags " + (", ".join(sorted(tags)) or "none")
        lines.append(pad + f"{node.label} — article has {have}")
    elif isinstance(node, CNot):
        inner = node.child.occurrences(ctx)
        why = "it does not occur" if ok else "it occurs: " + _where(inner, ctx)
        lines.append(pad + f"NOT {describe(node.child)} — {why}")
    elif isinstance(node, CNear):
        op = ("ONEAR" if node.ordered else "NEAR") + f"/{node.distance}"
        if ok:
            best = node.closest(ctx)
            lines.append(pad + f"{op} — closest pair {best} words apart")
        else:
            lefts, rights = node.left.occurrences(ctx), node.right.occurrences(ctx)
            if not lefts or not rights:
                lines.append(pad + f"{op} failed: {'left' if not lefts else 'right'} side does not occur")
            else:
                best = node.closest(ctx)
                if best is None:
                    why = "no pair in the same field" + (" in that order" if node.ordered else "")
                else:
                    why = f"closest pair {best} words apart"
                lines.append(pad + f"{op} failed: {why}")
        _explain(node.left, ctx, depth + 1, lines)
        _explain(node.right, ctx, depth + 1, lines)
    else:
        assert isinstance(node, (CAnd, COr))
        name = "AND" if isinstance(node, CAnd) else "OR"
        results: list[str] = []
        count = 0
        for child in node.children:
            count += bool(child.occurrences(ctx))
        lines.append(pad + f"{name} — {count} of {len(node.children)} parts matched")
        for child in node.children:
            _explain(child, ctx, depth + 1, results)
        lines.extend(results)
    return ok


def _leaf_line(node: CTerm | CRegex | CEntity, occs: list[Occ], ctx: ArticleContext) -> str:
    label = node.label
    if occs:
        n = len(occs)
        return f"{label} — {n} occurrence{'s' if n > 1 else ''}: {_where(occs, ctx)}"
    if isinstance(node, CTerm) and node.raw is not None:
        folded = node.folded().occurrences(ctx)
        if folded:
            return f"no occurrence of {label} with that exact case (other case: {_where(folded, ctx)})"
    if isinstance(node, CEntity) and node.aliases and not node.in_context(ctx):
        alias_occs = [o for t in node.aliases for o in t.occurrences(ctx)]
        if alias_occs:
            return f"no occurrence of {label}: alias {_where(alias_occs, ctx)} found but no context phrase"
    scope = ""
    field = getattr(node, "field", None)
    if field is not None:
        scope = f" in the {FIELD_NAMES[field]}"
    return f"no occurrence of {label}{scope}"


def _where(occs: list[Occ], ctx: ArticleContext) -> str:
    hits = hits_of(leaves_of([o for o in occs if o is not TRUE_OCC]), ctx.fields)
    shown = [f'{FIELD_NAMES[f]} "{ctx.fields.fields[f].text[s:e]}"' for f, s, e, _ in hits[:MAX_SHOWN]]
    more = f" and {len(hits) - MAX_SHOWN} more" if len(hits) > MAX_SHOWN else ""
    return ", ".join(shown) + more
