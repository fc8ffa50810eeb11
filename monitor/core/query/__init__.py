"""The watchlist query language and the matching engine behind `Matcher`.

Modules: `ast` (nodes, EntitySpec, QueryError), `parser` (text to tree and
all error messages), `fields` (one article normalised once), `compile`
(presearch automaton, candidate sets), `evaluate` (operator semantics),
`report` (terms, spans, score, snippets), `explain` (why / why not).

For the config layer: `check_query(query, entity_names)` raises QueryError
with a 1-based column; `str(error)` reads "column 17: expected ')' after …".
"""

from __future__ import annotations

from collections.abc import Collection

from monitor.core.query.ast import EntitySpec, Node, QueryError, render
from monitor.core.query.parser import parse


def check_query(query: str, entity_names: Collection[str] = ()) -> Node:
    """Parse and check one query; raise QueryError if it cannot be used."""
    return parse(query, set(entity_names))


__all__ = ["EntitySpec", "Node", "QueryError", "check_query", "parse", "render"]
