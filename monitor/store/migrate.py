"""Schema migrations: bring any monitor database to the current schema.

The revisions live in `monitor/store/migrations` (Alembic, run through its
API; there is no alembic.ini). `upgrade` is what `make_engine` runs at every
start:

* a fresh database is built by the revisions from empty;
* a database made by `create_all` before migrations existed (our tables,
  no alembic_version) is stamped at the first revision, the schema it has,
  and upgraded from there;
* a database at the head revision is left alone (one small query).

The whole upgrade is one transaction. On SQLite it begins IMMEDIATE (the
engine's "begin" listener), so two processes starting at once take turns;
on PostgreSQL a transaction-scoped advisory lock does the same. SQLite
rebuilds a table to alter it (batch mode: copy, drop, rename); dropping a
table that others reference would fire their ON DELETE CASCADE, so foreign
keys are switched off for the migration (a pragma that only works outside
a transaction) and checked with `PRAGMA foreign_key_check` before commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001_initial"
# Any table of the first released schema: its presence without an
# alembic_version table means "made by create_all at FIRST_REVISION".
LEGACY_MARKER_TABLE = "feeds"
# pg_advisory_xact_lock key: "monitor" in ASCII, so it is recognisable in pg_locks.
PG_LOCK_KEY = 0x6D6F6E69746F72


# What revisions create but schema.py cannot declare (SQLite FTS5 virtual
# tables and their shadow tables, PostgreSQL's search table and indexes): left out
# of autogenerate and of schema comparisons. A revision adding such an
# object names it here.
UNDECLARED_TABLE_PREFIXES = ("articles_fts", "article_search")
UNDECLARED_INDEXES = frozenset({"ix_articles_fts", "ix_article_search"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's `include_object` hook: skip the objects schema.py does not declare."""
    if type_ == "table" and name and name.startswith(UNDECLARED_TABLE_PREFIXES):
        return False
    return not (type_ == "index" and name in UNDECLARED_INDEXES)


class MigrationError(RuntimeError):
    """The database cannot be brought to the current schema."""


@dataclass(frozen=True)
class UpgradeResult:
    """The revision a database was at before an upgrade, and after it."""

    before: str | None
    after: str | None
    # The database had our tables but no revision: made before migrations.
    legacy: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after


def make_config(connection: Connection | None = None) -> Config:
    """An Alembic config for our revisions, using `connection` (needed to run them)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(make_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise MigrationError("no schema revisions found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated, or empty)."""
    with engine.connect() as conn:
        return _revision_of(conn)


def upgrade(engine: Engine, target: str = "head") -> UpgradeResult:
    """Bring the database at `engine` to `target` (default: the newest revision)."""
    wanted = head_revision() if target == "head" else target
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _set_sqlite_foreign_keys(conn, on=False)
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
                before = _revision_of(conn)
                if before == wanted:
                    return UpgradeResult(before, before)
                config = make_config(conn)
                legacy = before is None and inspect(conn).has_table(LEGACY_MARKER_TABLE)
                before_run: str | None
                if legacy:
                    log.info("database made before migrations existed: marking it as %s", FIRST_REVISION)
                    command.stamp(config, FIRST_REVISION)
                    before_run = FIRST_REVISION
                else:
                    before_run = before
                if before_run != wanted:
                    command.upgrade(config, target)
                if sqlite:
                    _check_sqlite_foreign_keys(conn)
                after = _revision_of(conn)
        finally:
            if sqlite:
                _set_sqlite_foreign_keys(conn, on=True)
    log.info(
        "database schema upgraded from %s to %s",
        before or ("(made before migrations)" if legacy else "(empty)"),
        after,
    )
    return UpgradeResult(before, after, legacy)


def _revision_of(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _set_sqlite_foreign_keys(conn: Connection, *, on: bool) -> None:
    # On the DBAPI connection, so that SQLAlchemy does not begin a
    # transaction first (the pragma is a no-op inside one).
    raw: Any = conn.connection.driver_connection
    raw.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def _check_sqlite_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise MigrationError(f"migration would leave {len(broken)} broken references in {', '.join(tables)}")
