"""The command line: argument parsing and output only.

Every command takes --config PATH (default: $MONITOR_CONFIG, then
./config.yaml). Exit codes: 0 success, 1 runtime failure, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.config import Settings, find_config, format_duration, load_config, parse_duration, redact_url
from monitor.errors import ConfigError, MonitorError
from monitor.models import FeedHealth, HitRecord
from monitor.store.engine import describe_url

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
log = logging.getLogger("monitor")


def _common_options(suppress: bool) -> argparse.ArgumentParser:
    """--config and --log-level, accepted before or after the command.

    The copy given to subcommands has no defaults, so a value given before
    the command is not overwritten by the subcommand's default.
    """
    common = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    common.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="config file (default: $MONITOR_CONFIG, then ./config.yaml)",
    )
    common.add_argument(
        "--log-level",
        default=default,
        choices=["debug", "info", "warning", "error"],
        help="log verbosity on stderr (default: info for run/poll, warning otherwise)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(suppress=True)
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="News monitoring and alerting: poll feeds, match watchlists, store hits, send alerts.",
        parents=[_common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("check", parents=[common], help="validate the config and print a summary")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing; only the exit code")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", parents=[common], help="run the daemon: poll, match, store and alert on schedule")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("poll", parents=[common], help="poll feeds and deliver alerts, then exit")
    p.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="one full cycle over every feed (required; for cron and tests)",
    )
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("hits", parents=[common], help="list stored hits, newest first")
    p.add_argument("--watchlist", "-w", help="only this watchlist")
    p.add_argument("--since", help="only hits found within this long, e.g. 24h, 7d (default: all)")
    p.add_argument("--limit", type=int, default=None, help="at most this many hits")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(func=cmd_hits)

    p = sub.add_parser("feeds", parents=[common], help="show each feed's health")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_feeds)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    default_level = "info" if args.command in ("run", "poll") else "warning"
    configure_logging(args.log_level or default_level)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print_config_error(find_config(args.config), exc)
        return EXIT_CONFIG
    except SQLAlchemyError as exc:
        print(f"error: database: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILURE
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter stays at warning unless debugging.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore", "apscheduler", "apprise"):
        logging.getLogger(name).setLevel(quiet)


def print_config_error(path: object, exc: ConfigError) -> None:
    count = len(exc.problems)
    print(f"{path}: invalid configuration ({count} problem{'s' if count != 1 else ''}):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _settings(args: argparse.Namespace) -> Settings:
    return load_config(args.config)


# --- commands -------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    articles = _repository(settings).article_count()  # proves the database answers
    if args.quiet:
        return EXIT_OK
    out = sys.stdout
    out.write(f"{settings.source}: OK\n")
    out.write(f"database: {describe_url(settings.database)} (reachable, {articles} articles stored)\n")
    poll = settings.poll
    out.write(
        f"poll: every {format_duration(poll.interval)} by default, timeout {format_duration(poll.timeout)}, "
        f"{poll.concurrency} at a time\n"
    )
    out.write(f"feeds ({len(settings.feeds)}):\n")
    for feed in settings.feeds:
        tags = f"  [{', '.join(feed.tags)}]" if feed.tags else ""
        every = format_duration(settings.feed_interval(feed))
        out.write(f"  {feed.name} — {feed.url} (every {every}){tags}\n")
    out.write(f"watchlists ({len(settings.watchlists)}):\n")
    for w in settings.watchlists:
        channels = ", ".join(w.channels) if w.channels else "console"
        tags = f"; feeds tagged {', '.join(w.tags)}" if w.tags else ""
        out.write(f"  {w.name}: {len(w.keywords)} keywords{tags} → {channels}\n")
    out.write(f"channels ({len(settings.channels)}):\n")
    for name, channel in settings.channels.items():
        for url in channel.urls:
            out.write(f"  {name}: {redact_url(url)}\n")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.scheduler import run_daemon
    from monitor.service import Service

    settings = _settings(args)
    service = Service(settings)
    log.info("database %s; config %s", describe_url(settings.database), settings.source)
    run_daemon(service)
    return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    from monitor.service import Service

    settings = _settings(args)
    service = Service(settings)
    summary = service.poll(all_feeds=True)
    delivered = service.dispatch()
    log.info(
        "done: feeds ok=%d not_modified=%d failed=%d, new articles=%d, hits=%d, alerts sent=%d failed=%d",
        summary.feeds_ok,
        summary.not_modified,
        summary.feeds_failed,
        summary.new_articles,
        summary.hits,
        delivered.sent,
        delivered.failed,
    )
    return EXIT_OK


def _repository(settings: Settings) -> Any:
    from monitor.store.engine import make_engine
    from monitor.store.repository import Repository

    return Repository(make_engine(settings.database))


def cmd_hits(args: argparse.Namespace) -> int:
    from monitor.service import utcnow

    settings = _settings(args)
    since = None
    if args.since:
        try:
            since = utcnow() - timedelta(seconds=parse_duration(args.since))
        except ValueError as exc:
            print(f"error: --since: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    if args.watchlist and args.watchlist not in {w.name for w in settings.watchlists}:
        log.warning("watchlist %r is not in the config; listing stored hits anyway", args.watchlist)
    hits = _repository(settings).list_hits(since=since, watchlist=args.watchlist, limit=args.limit)
    write_hits(hits, args.format, sys.stdout)
    return EXIT_OK


HIT_FIELDS = ["id", "watchlist", "title", "link", "feed", "terms", "snippet", "score", "published", "found_at"]


def hit_dict(hit: HitRecord) -> dict[str, Any]:
    data = asdict(hit)
    data["terms"] = list(hit.terms)
    data["published"] = _iso(hit.published)
    data["found_at"] = _iso(hit.found_at)
    return {key: data[key] for key in HIT_FIELDS}


def write_hits(hits: list[HitRecord], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump([hit_dict(h) for h in hits], out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=HIT_FIELDS)
        writer.writeheader()
        for hit in hits:
            row = hit_dict(hit)
            row["terms"] = "; ".join(hit.terms)
            writer.writerow(row)
    else:
        rows = [
            [_short_time(h.found_at), h.watchlist, _clip(h.feed, 24), _clip(h.title, 70), ", ".join(h.terms)]
            for h in hits
        ]
        _table(["found", "watchlist", "feed", "title", "terms"], rows, out)
        out.write(f"{len(hits)} hit{'s' if len(hits) != 1 else ''}\n")


def cmd_feeds(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configured = {f.name for f in settings.feeds}
    health = [h for h in _repository(settings).feed_health() if h.name in configured or h.articles]
    known = {h.name for h in health}
    # Feeds added to the config but never seen by the daemon yet.
    for feed in settings.feeds:
        if feed.name not in known:
            health.append(FeedHealth(feed.name, feed.url, True, None, None, None, None, 0, 0, None))
    if args.format == "json":
        json.dump([_feed_dict(h) for h in health], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    rows = [
        [
            _clip(h.name, 28),
            feed_state(h),
            _short_time(h.last_success_at),
            str(h.consecutive_failures),
            str(h.articles),
            _short_time(h.next_poll_at) if h.active else "-",
            _clip(h.last_error or "", 60),
        ]
        for h in health
    ]
    _table(["feed", "state", "last success", "failures", "articles", "next poll", "last error"], rows, sys.stdout)
    return EXIT_OK


def feed_state(h: FeedHealth) -> str:
    if not h.active:
        return "removed"
    if h.last_polled_at is None:
        return "new"
    return "failing" if h.consecutive_failures else "ok"


def _feed_dict(h: FeedHealth) -> dict[str, Any]:
    data = asdict(h)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = _iso(value)
    data["state"] = feed_state(h)
    return data


# --- formatting helpers -----------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(headers: list[str], rows: list[list[str]], out: TextIO) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
