"""Query text to syntax tree: the lexer, the recursive-descent parser, checks.

Owns the grammar of the watchlist query language and every message a user
sees for a query that cannot be used. Precedence, tightest first: NOT (and
`-`), NEAR/ONEAR, AND (and juxtaposition), OR. Operators are upper-case only;
lower-case `and`/`or`/`not`/`near` are plain words.

    query   := or
    or      := and ("OR" and)*
    and     := near (["AND"] near)*          -- "A NOT B" is A AND (NOT B)
    near    := unary (("NEAR/n" | "ONEAR/n") unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or ")" | ("title:" | "text:") primary
             | "case:" (WORD | QUOTED) | ("feed:" | "tag:") (WORD | QUOTED)
             | WORD | WORD* | QUOTED | /regex/ | @entity

A bare word that folds to several words (`Mexico's`, `price-fixing`) means
the phrase of those words.

Nesting is limited to MAX_DEPTH levels, both as written (parentheses, NOT
and -, title: and text:) and in the tree (where `a NEAR b NEAR c` is
`(a NEAR b) NEAR c`), so a hostile query (the dashboard's "try it") or a
careless one gets a located QueryError instead of exhausting the recursion
of the parser or of a later stage.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from monitor.core.query.ast import (
    And,
    EntityRef,
    Field,
    Near,
    Node,
    Not,
    Or,
    QueryError,
    Regex,
    Source,
    Term,
)
from monitor.core.query.patterns import NeedsFallback, RegexPattern, compile_pattern
from monitor.core.text import fold, is_word_char, tokenize

FIELDS = ("title", "text", "case", "feed", "tag")
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_NEAR_RE = re.compile(r"(O?NEAR)(?:/(.*))?\Z")
_ENTITY_RE = re.compile(r"@([\w.-]+)")
_BARE_END = ' \t\r\n()"'
MAX_DEPTH = 50  # levels of nesting a query may have
_TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels)"


@dataclass(frozen=True)
class Tok:
    kind: str  # WORD QUOTED REGEX ENTITY FIELD LPAREN RPAREN AND OR NOT MINUS NEAR EOF
    text: str  # as written
    column: int
    value: str = ""  # the word/phrase/pattern/name/field without decoration
    distance: int = 0


def lex(query: str) -> list[Tok]:
    """Split `query` into tokens; raise QueryError on unterminated quotes."""
    toks: list[Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            toks.append(Tok("LPAREN" if ch == "(" else "RPAREN", ch, col))
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end == -1:
                raise QueryError("unterminated quote: missing closing '\"'", col)
            toks.append(Tok("QUOTED", query[i : end + 1], col, query[i + 1 : end]))
            i = end + 1
        elif ch == "/":
            j = i + 1
            while j < n and query[j] != "/":
                j += 2 if query[j] == "\\" else 1
            if j >= n:
                raise QueryError("unterminated regular expression: missing closing '/'", col)
            body = query[i + 1 : j].replace("\\/", "/")
            toks.append(Tok("REGEX", query[i : j + 1], col, body))
            i = j + 1
        elif ch == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != ")":
            toks.append(Tok("MINUS", "-", col))
            i += 1
        elif (m := _FIELD_RE.match(query, i)) is not None:
            toks.append(Tok("FIELD", m.group(), col, m.group(1)))
            i = m.end()
        else:
            j = i
            while j < n and query[j] not in _BARE_END:
                j += 1
            toks.append(_bare(query[i:j], col))
            i = j
    toks.append(Tok("EOF", "", n + 1))
    return toks


def _bare(text: str, col: int) -> Tok:
    if text in ("AND", "OR", "NOT"):
        return Tok(text, text, col)
    if (m := _NEAR_RE.match(text)) is not None:
        arg = m.group(2)
        if arg is None or not arg.isdigit():
            raise QueryError(f"expected {m.group(1)}/n with a number of words, e.g. {m.group(1)}/5", col)
        return Tok("NEAR", text, col, m.group(1), int(arg))
    if text.startswith("@"):
        m = _ENTITY_RE.fullmatch(text)
        if m is None:
            raise QueryError(f"bad entity reference {text!r}: expected @name", col)
        return Tok("ENTITY", text, col, m.group(1))
    return Tok("WORD", text, col, text)


class _Parser:
    def __init__(self, query: str, entities: Collection[str] | None, regex_fallback: bool = True) -> None:
        self.query = query
        self.toks = lex(query)
        self.pos = 0
        self.entities = entities
        self.regex_fallback = regex_fallback
        self.last = ""  # text of the last consumed token, for messages
        self.depth = 0  # levels of nesting around the token being parsed
        # Height of each operator node built so far (leaves are 1); the node
        # is kept so that its id is not reused while parsing.
        self.heights: dict[int, tuple[int, Node]] = {}

    def peek(self) -> Tok:
        return self.toks[self.pos]

    def take(self) -> Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        self.last = tok.text
        return tok

    def error(self, message: str, tok: Tok | None = None) -> QueryError:
        return QueryError(message, (tok or self.peek()).column)

    def enter(self, tok: Tok) -> None:
        """One level deeper as written, at `tok`; refuse more than MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(_TOO_DEEP, tok.column)

    def built(self, node: Node, children: tuple[Node, ...], column: int) -> Node:
        """Record `node`'s height in the tree; refuse more than MAX_DEPTH."""
        height = 1 + max(self.heights[id(c)][0] if id(c) in self.heights else 1 for c in children)
        if height > MAX_DEPTH:
            raise QueryError(_TOO_DEEP, column)
        self.heights[id(node)] = (height, node)
        return node

    def parse(self) -> Node:
        if self.peek().kind == "EOF":
            raise QueryError("empty query", 1)
        node = self.parse_or(None)
        tok = self.peek()
        if tok.kind == "RPAREN":
            raise self.error("unexpected ')' with no matching '('")
        if tok.kind != "EOF":  # pragma: no cover - the loops consume everything else
            raise self.error(f"unexpected {tok.text!r}")
        return node

    def parse_or(self, field: Field) -> Node:
        col = self.peek().column
        items = [self.parse_and(field)]
        while self.peek().kind == "OR":
            self.take()
            self.expect_operand("OR")
            items.append(self.parse_and(field))
        if len(items) == 1:
            return items[0]
        return self.built(Or(tuple(items), col), tuple(items), col)

    def parse_and(self, field: Field) -> Node:
        col = self.peek().column
        items = [self.parse_near(field)]
        while self.peek().kind not in ("OR", "RPAREN", "EOF"):
            if self.peek().kind == "AND":
                self.take()
                self.expect_operand("AND")
            items.append(self.parse_near(field))
        if len(items) == 1:
            return items[0]
        return self.built(And(tuple(items), col), tuple(items), col)

    def parse_near(self, field: Field) -> Node:
        left = self.parse_unary(field)
        while self.peek().kind == "NEAR":
            op = self.take()
            self.expect_operand(op.text)
            right = self.parse_unary(field)
            for side in (left, right):
                _check_positional(side, op.text)
            near = Near(left, right, op.distance, op.value == "ONEAR", op.column)
            left = self.built(near, (left, right), op.column)
        return left

    def parse_unary(self, field: Field) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "MINUS"):
            self.take()
            self.enter(tok)
            self.expect_operand(tok.text)
            child = self.parse_unary(field)
            self.depth -= 1
            return self.built(Not(child, tok.column), (child,), tok.column)
        return self.parse_primary(field)

    def expect_operand(self, after: str) -> None:
        tok = self.peek()
        if tok.kind in ("EOF", "RPAREN", "OR", "AND", "NEAR"):
            found = "end of query" if tok.kind == "EOF" else repr(tok.text)
            raise self.error(f"expected a term after {after}, found {found}")

    def parse_primary(self, field: Field) -> Node:
        tok = self.peek()
        kind = tok.kind
        if kind == "LPAREN":
            self.take()
            self.enter(tok)
            if self.peek().kind == "RPAREN":
                raise self.error("empty parentheses")
            node = self.parse_or(field)
            if self.peek().kind != "RPAREN":
                raise self.error(f"expected ')' after {_quote_last(self.last)}")
            self.take()
            self.depth -= 1
            return node
        if kind == "FIELD":
            return self.parse_field(field)
        if kind == "WORD":
            self.take()
            return self.word(tok, field)
        if kind == "QUOTED":
            self.take()
            words = _words(tok.value)
            if not words:
                raise self.error("empty phrase: it has no letters or digits", tok)
            return Term(words, tok.text, field, column=tok.column)
        if kind == "REGEX":
            self.take()
            return Regex(_compile_regex(tok, self.regex_fallback), tok.text, field, tok.column)
        if kind == "ENTITY":
            self.take()
            if self.entities is not None and tok.value not in self.entities:
                known = ", ".join("@" + name for name in sorted(self.entities)) or "none defined"
                raise self.error(f"unknown entity @{tok.value} (known: {known})", tok)
            return EntityRef(tok.value, tok.text, field, tok.column)
        if kind == "EOF":
            raise self.error("unexpected end of query: expected a term")
        if kind == "RPAREN":
            raise self.error("unexpected ')': expected a term")
        raise self.error(f"unexpected operator {tok.text!r}: expected a term")

    def parse_field(self, field: Field) -> Node:
        tok = self.take()
        name = tok.value
        if name not in FIELDS:
            raise self.error(f"unknown field {tok.text!r} (expected title:, text:, case:, feed: or tag:)", tok)
        if name in ("title", "text"):
            if field is not None and field != name:
                raise self.error(f"{name}: inside {field}: can never match", tok)
            if self.peek().kind in ("EOF", "RPAREN", "OR", "AND", "NEAR"):
                raise self.error(f"expected a term after {tok.text}")
            self.enter(tok)
            node = self.parse_primary(name)
            self.depth -= 1
            return node
        arg = self.peek()
        if arg.kind not in ("WORD", "QUOTED"):
            raise self.error(f"expected a word or a quoted phrase after {tok.text}")
        self.take()
        if name == "case":
            if arg.kind == "WORD" and arg.value.endswith("*"):
                raise self.error("case: does not take a prefix ('*')", arg)
            tokens = tokenize(arg.value)
            if not tokens:
                raise self.error("case: term has no letters or digits", arg)
            raw = tuple(arg.value[t.start : t.end] for t in tokens)
            label = "case:" + arg.text
            return Term(tuple(t.word for t in tokens), label, field, case=True, raw=raw, column=tok.column)
        if field is not None:
            raise self.error(f"{name}: cannot be used inside {field}:", tok)
        value = fold(arg.value)
        if not value:
            raise self.error(f"{name}: needs a name with letters or digits", arg)
        return Source(name, value, tok.text + arg.text, tok.column)

    def word(self, tok: Tok, field: Field) -> Node:
        text = tok.value
        prefix = text.endswith("*")
        if "*" in text[:-1] or (prefix and text[:-1].endswith("*")):
            raise self.error("'*' is only allowed once, at the end of a word", tok)
        words = _words(text[:-1] if prefix else text)
        if not words:
            what = "a prefix" if prefix else "a term"
            raise self.error(f"{text!r} is not {what}: it has no letters or digits", tok)
        if prefix and not is_word_char(text[-2]):
            raise self.error("'*' must follow a letter or digit", tok)
        return Term(words, text, field, prefix=prefix, column=tok.column)


def _words(text: str) -> tuple[str, ...]:
    return tuple(token.word for token in tokenize(text))


def _quote_last(text: str) -> str:
    return text if text.startswith('"') else f'"{text}"'


def _compile_regex(tok: Tok, fallback: bool) -> RegexPattern:
    """The pattern on RE2, or (only with `fallback`: a trusted author) on the
    bounded fallback engine when RE2 cannot run it; see `patterns`."""
    body = tok.value
    ignorecase = True
    if body.startswith("(?-i)"):
        body, ignorecase = body[5:], False
    if not body:
        raise QueryError("empty regular expression", tok.column)
    try:
        pattern = compile_pattern(body, ignorecase, allow_fallback=fallback, label=tok.text)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise QueryError(f"bad regular expression {tok.text}: {exc.msg}{where}", tok.column) from exc
    except RecursionError as exc:
        raise QueryError(f"bad regular expression {tok.text}: nested too deeply", tok.column) from exc
    except NeedsFallback as exc:
        raise QueryError(
            f"regular expression {tok.text} {exc.reason}, which RE2 does not support; a pattern tried "
            "here must run on RE2 (linear time)",
            tok.column,
        ) from exc
    if pattern.matches_empty():
        raise QueryError(f"regular expression {tok.text} matches empty text", tok.column)
    return pattern


def _check_positional(node: Node, op: str) -> None:
    """NEAR needs word positions: no NOT, regex or feed:/tag: inside."""
    if isinstance(node, Not):
        raise QueryError(f"NOT cannot be used inside {op}", node.column)
    if isinstance(node, Regex):
        raise QueryError(f"a regular expression cannot be used with {op}", node.column)
    if isinstance(node, Source):
        raise QueryError(f"{node.kind}: cannot be used with {op}", node.column)
    if isinstance(node, (And, Or)):
        for child in node.children:
            _check_positional(child, op)


def parse(query: str, entities: Collection[str] | None = None, *, regex_fallback: bool = True) -> Node:
    """Parse `query`; with `entities`, `@name` must be one of them.

    Raises QueryError (message and 1-based column) for anything unusable,
    including a query that could only match through NOT, and — without
    `regex_fallback` (a query from an untrusted visitor) — a regular
    expression RE2 cannot run.
    """
    node = _Parser(query, entities, regex_fallback).parse()
    if not has_positive(node):
        raise QueryError("query must contain at least one positive term", 1)
    return node


def has_positive(node: Node) -> bool:
    """True when every way `node` can match needs some positive term."""
    if isinstance(node, Not):
        return False
    if isinstance(node, Or):
        return all(has_positive(child) for child in node.children)
    if isinstance(node, And):
        return any(has_positive(child) for child in node.children)
    return True
