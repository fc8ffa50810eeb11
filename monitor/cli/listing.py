"""`monitor hits` and `monitor feeds`: listing what is stored, as table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from datetime import datetime
from typing import Any, TextIO

from monitor.cli.common import EXIT_CONFIG, EXIT_OK, repository, settings_of, since_of
from monitor.models import HitRecord
from monitor.records import HIT_FIELDS, hit_dict

log = logging.getLogger("monitor")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("hits", parents=[common], help="list stored hits, newest first")
    p.add_argument("--watchlist", "-w", help="only this watchlist")
    p.add_argument("--since", help="only hits found within this long, e.g. 24h, 7d (default: all)")
    p.add_argument("--limit", type=int, default=None, help="at most this many hits")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument(
        "--copies",
        action="store_true",
        help="list every copy of a story (default: one line per story and watchlist, with its sources)",
    )
    p.set_defaults(func=cmd_hits)


def cmd_hits(args: argparse.Namespace) -> int:
    from monitor.times import utcnow

    settings = settings_of(args)
    try:
        since = since_of(args.since, utcnow())
    except ValueError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.watchlist and args.watchlist not in {w.name for w in settings.watchlists}:
        log.warning("watchlist %r is not in the config; listing stored hits anyway", args.watchlist)
    hits = repository(settings).list_hits(
        since=since, watchlist=args.watchlist, limit=args.limit, by_story=not args.copies
    )
    write_hits(hits, args.format, sys.stdout)
    return EXIT_OK


def write_hits(hits: list[HitRecord], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump([hit_dict(h) for h in hits], out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=HIT_FIELDS)
        writer.writeheader()
        for hit in hits:
            row = {key: value for key, value in hit_dict(hit).items() if key in HIT_FIELDS}
            row["terms"] = "; ".join(hit.terms)
            row["also_reported_by"] = "; ".join(row["also_reported_by"])
            writer.writerow(row)
    else:
        rows = [
            [
                short_time(h.found_at),
                h.watchlist,
                clip(h.feed, 24),
                clip(h.title, 70),
                ", ".join(h.terms),
                clip(_also(h), 40),
            ]
            for h in hits
        ]
        table(["found", "watchlist", "feed", "title", "terms", "also reported by"], rows, out)
        out.write(f"{len(hits)} hit{'s' if len(hits) != 1 else ''}\n")


def _also(hit: HitRecord) -> str:
    others = hit.also_reported_by
    if not others:
        return ""
    return f"+{len(others)}: " + ", ".join(src.feed for src in others)


# --- formatting helpers -----------------------------------------------------------


def short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: list[str], rows: list[list[str]], out: TextIO) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    out.writelines("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows)
