"""The watchlist query language and the matching engine behind `Matcher`.

Modules: `ast` (nodes, EntitySpec, QueryError), `parser` (text to tree and
all error messages), `fields` (one article normalised once), `compile`
(presearch automaton, candidate sets), `evaluate` (operator semantics),
`report` (terms, spans, score, snippets), `explain` (why / why not).

For the config layer: `check_query(query, entity_names)` raises QueryError
with a 1-based column; `str(error)` reads "column 17: expected ')' after …".
`fallback_patterns(query, entity_names)` lists the regular expressions RE2
cannot run, which run on the bounded fallback engine (see `patterns`).
"""

from __future__ import annotations

from collections.abc import Collection

from monitor.core.query.ast import EntitySpec, Node, QueryError, Regex, leaves, render
from monitor.core.query.parser import parse
from monitor.core.query.patterns import ENGINE_FALLBACK, RegexPattern


def check_query(query: str, entity_names: Collection[str] = ()) -> Node:
    """Parse and check one query; raise QueryError if it cannot be used."""
    return parse(query, set(entity_names))


def fallback_patterns(query: str, entity_names: Collection[str] = ()) -> list[RegexPattern]:
    """The regular expressions of `query` (a valid one) that RE2 cannot run,
    in order; each has a `label` and a `fallback_reason`."""
    return [
        leaf.pattern
        for leaf in leaves(parse(query, set(entity_names)))
        if isinstance(leaf, Regex) and leaf.pattern.engine == ENGINE_FALLBACK
    ]


__all__ = ["EntitySpec", "Node", "QueryError", "check_query", "fallback_patterns", "parse", "render"]
