"""`monitor db`: schema upgrades and what the database holds.

`db upgrade` runs the migrations that every start runs anyway, and says
which revision the database went from and to. `db stats` counts rows per
table, the space they take, the oldest and newest article and the schema
revision; it changes nothing (an old database is reported as behind).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text

from monitor.cli.common import EXIT_OK, settings_of
from monitor.cli.listing import table
from monitor.records import iso
from monitor.store.engine import describe_url, make_engine
from monitor.store.migrate import current_revision, head_revision, upgrade
from monitor.store.schema import ArticleRow, Base


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "db",
        parents=[common],
        help="the database: upgrade its schema, show what it holds",
        description=(
            "`upgrade` brings the schema to this version's revision (every start does it too) "
            "and prints the revision before and after; `stats` shows rows per table, size on disk, "
            "the oldest and newest article and the schema revision, changing nothing."
        ),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser(
        "upgrade",
        parents=[common],
        help="migrate the schema to the newest revision; prints from → to",
        description="Run the schema migrations (one transaction) and print the revision before and after.",
    )
    up.set_defaults(func=cmd_upgrade)
    stats = actions.add_parser(
        "stats",
        parents=[common],
        help="rows per table, size on disk, oldest/newest article, schema revision",
        description="What the database holds; changes nothing.",
    )
    stats.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")
    stats.set_defaults(func=cmd_stats)


def cmd_upgrade(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    engine = make_engine(settings.database, migrate=False)
    try:
        result = upgrade(engine)
    finally:
        engine.dispose()
    where = describe_url(settings.database)
    if not result.changed:
        print(f"{where}: schema at {result.after} (up to date)")
        return EXIT_OK
    before = result.before or ("(made before migrations)" if result.legacy else "(empty)")
    print(f"{where}: schema upgraded {before} → {result.after}")
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    engine = make_engine(settings.database, migrate=False)
    try:
        stats = database_stats(engine)
    finally:
        engine.dispose()
    stats["database"] = describe_url(settings.database)
    if args.format == "json":
        json.dump(stats, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    out = sys.stdout
    revision = stats["revision"] or "(none)"
    behind = "" if stats["up_to_date"] else f" (behind {stats['head']}: run `monitor db upgrade`)"
    out.write(f"database: {stats['database']}\n")
    out.write(f"schema revision: {revision}{behind}\n")
    size = "-" if stats["size_bytes"] is None else _human(stats["size_bytes"])
    out.write(f"size on disk: {size}\n")
    out.write(f"oldest article: {stats['oldest_article'] or '-'}\n")
    out.write(f"newest article: {stats['newest_article'] or '-'}\n")
    rows = []
    for name, info in stats["tables"].items():
        count = "-" if info["rows"] is None else str(info["rows"])
        size = "" if info.get("size_bytes") is None else _human(info["size_bytes"])
        rows.append([name, count, size])
    table(["table", "rows", "size"], rows, out)
    return EXIT_OK


def database_stats(engine: Engine) -> dict[str, Any]:
    """Rows per table (None: table missing), sizes, article dates and revisions."""
    revision = current_revision(engine)
    head = head_revision()
    tables: dict[str, dict[str, int | None]] = {}
    oldest: datetime | None = None
    newest: datetime | None = None
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for table_ in Base.metadata.sorted_tables:
            info: dict[str, int | None] = {"rows": None}
            if table_.name in present:
                info["rows"] = conn.execute(select(func.count()).select_from(table_)).scalar_one()
                if postgres:
                    info["size_bytes"] = conn.execute(
                        text("SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": table_.name}
                    ).scalar_one()
            tables[table_.name] = info
        if "articles" in present:
            oldest, newest = conn.execute(
                select(func.min(ArticleRow.first_seen_at), func.max(ArticleRow.first_seen_at))
            ).one()
    size: int | None = None
    if postgres:
        size = sum(info.get("size_bytes") or 0 for info in tables.values())
    elif engine.dialect.name == "sqlite":
        size = _sqlite_size(engine.url.database)
    return {
        "revision": revision,
        "head": head,
        "up_to_date": revision == head,
        "size_bytes": size,
        "oldest_article": iso(oldest),
        "newest_article": iso(newest),
        "tables": tables,
    }


def _sqlite_size(database: str | None) -> int:
    """The database file with its write-ahead log and shared-memory index."""
    if not database or database == ":memory:":
        return 0
    path = Path(database).expanduser()
    return sum(os.path.getsize(f"{path}{suffix}") for suffix in ("", "-wal", "-shm") if Path(f"{path}{suffix}").exists())


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
