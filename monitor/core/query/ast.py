"""The watchlist query language's syntax tree, entity specs and errors.

Owns the node types the parser produces and the evaluator walks, the
`EntitySpec` value a query's `@name` refers to, `QueryError`, and `render`,
which turns a tree back into query text (used for labels and round-trip
tests). Nodes are frozen values; every node keeps the 1-based column where it
starts in the query so later stages can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core.query.patterns import RegexPattern
from monitor.errors import MonitorError

Field = str | None  # "title", "text" or None for both


class QueryError(MonitorError, ValueError):
    """A query that cannot be used; `column` is 1-based within the query."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"column {column}: {message}")


@dataclass(frozen=True)
class EntitySpec:
    """A named thing: `names` always count; `aliases` only in `context`.

    An alias counts when at least one of the `context` phrases occurs
    anywhere in the article (title or text). All are matched as literal
    folded phrases.
    """

    name: str
    names: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Term:
    """Consecutive folded words; the last one a prefix when `prefix`.

    With `case`, the article's original word text must equal `raw` exactly
    (`raw` holds the query's original words).
    """

    words: tuple[str, ...]
    label: str
    field: Field = None
    prefix: bool = False
    case: bool = False
    raw: tuple[str, ...] = ()
    column: int = 1


@dataclass(frozen=True)
class Regex:
    """A regular expression over a field's original text (see `patterns`)."""

    pattern: RegexPattern
    label: str
    field: Field = None
    column: int = 1


@dataclass(frozen=True)
class EntityRef:
    """`@name`: any of the entity's names, or an alias in context."""

    name: str
    label: str
    field: Field = None
    column: int = 1


@dataclass(frozen=True)
class Source:
    """`feed:"Name"` or `tag:name`: a test on where the article came from."""

    kind: str  # "feed" or "tag"
    value: str  # folded
    label: str
    column: int = 1


@dataclass(frozen=True)
class Not:
    child: Node
    column: int = 1


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    column: int = 1


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    column: int = 1


@dataclass(frozen=True)
class Near:
    """`left NEAR/distance right`; `ordered` for ONEAR (left first)."""

    left: Node
    right: Node
    distance: int
    ordered: bool = False
    column: int = 1


Node = Term | Regex | EntityRef | Source | Not | And | Or | Near


def leaves(node: Node) -> list[Node]:
    """Every leaf under `node`, left to right."""
    if isinstance(node, Not):
        return leaves(node.child)
    if isinstance(node, (And, Or)):
        return [leaf for child in node.children for leaf in leaves(child)]
    if isinstance(node, Near):
        return leaves(node.left) + leaves(node.right)
    return [node]


def render(node: Node) -> str:
    """Query text for `node`, fully parenthesised, scopes spelled out."""
    if isinstance(node, Term):
        if node.case:
            body = 'case:"' + " ".join(node.raw) + '"'
        elif node.prefix:
            # A bare word with separators folds to a phrase: "mexico-s*".
            body = "-".join(node.words) + "*"
        elif len(node.words) == 1:
            body = node.words[0]
        else:
            body = '"' + " ".join(node.words) + '"'
        return _scoped(node.field, body)
    if isinstance(node, Regex):
        return _scoped(node.field, node.label)
    if isinstance(node, EntityRef):
        return _scoped(node.field, "@" + node.name)
    if isinstance(node, Source):
        return f'{node.kind}:"{node.value}"'
    if isinstance(node, Not):
        return f"NOT {render(node.child)}"
    if isinstance(node, And):
        return "(" + " AND ".join(render(child) for child in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(render(child) for child in node.children) + ")"
    op = "ONEAR" if node.ordered else "NEAR"
    return f"({render(node.left)} {op}/{node.distance} {render(node.right)})"


def _scoped(field: Field, body: str) -> str:
    return f"{field}:{body}" if field else body
