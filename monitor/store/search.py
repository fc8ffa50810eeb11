"""Full-text search over hit articles (title, summary, content): the index and the query.

SQLite: an FTS5 table `articles_fts` holding the articles that have hits
(they enter with their first hit, by trigger), diacritics folded like the
matcher does (`México` finds `mexico`). PostgreSQL: a table
`article_search` of the same articles' `to_tsvector('simple', ...)` with a
GIN index, filled by triggers the same way (revision 0011; 0003 indexed
every article). Both are created by the Alembic revisions.

A search term list is built from the user's words only (no query syntax
reaches the engine), so any input is a valid search. Without an index
(`available` false) the caller falls back to a bounded LIKE scan and says so
(`store.hits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

_WORD = re.compile(r"\w+\*?", re.UNICODE)
MAX_TERMS = 12


def available(engine: Engine) -> bool:
    """Whether the search index (revisions 0003_search, 0011) exists on this database."""
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'articles_fts'"
            elif conn.dialect.name == "postgresql":
                query = "SELECT 1 WHERE to_regclass('article_search') IS NOT NULL"
            else:
                return False
            return conn.exec_driver_sql(query).first() is not None
    except SQLAlchemyError:
        return False


@dataclass(frozen=True)
class SearchTerms:
    """A user's search as plain words; `prefix` words end with `*`."""

    words: tuple[str, ...]

    @classmethod
    def parse(cls, value: str) -> SearchTerms:
        return cls(tuple(w for w in _WORD.findall(value or "") if w.strip("*"))[:MAX_TERMS])

    def __bool__(self) -> bool:
        return bool(self.words)

    def fts5(self) -> str:
        """An FTS5 MATCH expression: each word quoted (no operators), all required."""
        parts = []
        for word in self.words:
            star = word.endswith("*")
            bare = word.rstrip("*").replace('"', '""')
            parts.append(f'"{bare}"' + ("*" if star else ""))
        return " ".join(parts)

    def tsquery(self) -> str:
        """A PostgreSQL to_tsquery expression (words are \\w+, so nothing needs quoting)."""
        parts = []
        for word in self.words:
            bare = word.rstrip("*").lower()
            parts.append(f"{bare}:*" if word.endswith("*") else bare)
        return " & ".join(parts)

    def like_patterns(self) -> list[str]:
        return ["%" + w.rstrip("*").replace("\\", "").replace("%", "").replace("_", "") + "%" for w in self.words]


def article_ids_clause(dialect: str) -> str:
    """SQL selecting the ids of articles matching `:q` (see `SearchTerms.fts5`/`tsquery`)."""
    if dialect == "sqlite":
        return "SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q"
    return "SELECT article_id FROM article_search WHERE vector @@ to_tsquery('simple', :q)"


def search_param(terms: SearchTerms, dialect: str) -> str:
    return terms.fts5() if dialect == "sqlite" else terms.tsquery()


__all__ = ["SearchTerms", "article_ids_clause", "available", "search_param"]
