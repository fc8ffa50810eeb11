"""`monitor db`: schema upgrades and what the database holds.

`db upgrade` runs the migrations that every start runs anyway, and says
which revision the database went from and to. `db stats` counts rows per
table, the space they take, the oldest and newest article and the schema
revision (`store.stats`); it changes nothing (an old database is reported
as behind).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from monitor.cli.common import EXIT_OK, settings_of
from monitor.cli.listing import table
from monitor.store.engine import describe_url, make_engine
from monitor.store.migrate import upgrade
from monitor.store.stats import DatabaseStats, database_stats
from monitor.times import iso


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
        stats = stats_dict(database_stats(engine))
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


def stats_dict(stats: DatabaseStats) -> dict[str, Any]:
    """`db stats --format json`, without the database's description."""
    tables: dict[str, dict[str, int | None]] = {}
    for name, info in stats.tables.items():
        tables[name] = {"rows": info.rows}
        if info.size_bytes is not None:
            tables[name]["size_bytes"] = info.size_bytes
    return {
        "revision": stats.revision,
        "head": stats.head,
        "up_to_date": stats.up_to_date,
        "size_bytes": stats.size_bytes,
        "oldest_article": iso(stats.oldest_article),
        "newest_article": iso(stats.newest_article),
        "tables": tables,
    }


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
