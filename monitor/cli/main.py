"""The command line: the parser, logging setup, and the check/run/poll commands.

Every command takes --config PATH (default: $MONITOR_CONFIG, then
./config.yaml). Exit codes: 0 success, 1 runtime failure, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from monitor import __version__
from monitor.cli import database, delivering, feeds, listing, status, trends, tuning, web
from monitor.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    repository,
    settings_of,
)
from monitor.cli.logs import FORMATS, make_formatter
from monitor.config import Settings, find_config, format_duration, redact_url
from monitor.errors import ConfigError, MonitorError
from monitor.store.engine import DatabaseError, describe_url
from monitor.store.lockfile import DaemonLock, DatabaseInUse, lock_database

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
    common.add_argument(
        "--log-format",
        default=default,
        choices=list(FORMATS),
        help="log lines on stderr: text, or json (one object per line with ts, level, logger, "
        "message and context such as feed, watchlist, channel; default: text)",
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

    listing.add_commands(sub, common)
    tuning.add_commands(sub, common)
    delivering.add_commands(sub, common)
    feeds.add_commands(sub, common)
    web.add_commands(sub, common)
    database.add_commands(sub, common)
    status.add_commands(sub, common)
    trends.add_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    default_level = "info" if args.command in ("run", "poll") else "warning"
    configure_logging(args.log_level or default_level, args.log_format or "text")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print_config_error(find_config(args.config), exc)
        return EXIT_CONFIG
    except DatabaseInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseError as exc:
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


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    if level != "debug":
        # apprise logs each failed send as a warning; ours already says it,
        # with the channel and the retry time.
        handler.addFilter(lambda record: not (record.name.startswith("apprise") and record.levelno < logging.ERROR))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter stays at warning unless debugging.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore", "apscheduler", "apprise", "alembic", "watchfiles"):
        logging.getLogger(name).setLevel(quiet)


def print_config_error(path: object, exc: ConfigError) -> None:
    count = len(exc.problems)
    print(f"{path}: invalid configuration ({count} problem{'s' if count != 1 else ''}):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


# --- commands -------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    articles = repository(settings).article_count()  # proves the database answers
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
        what = []
        if w.keywords:
            what.append(f"{len(w.keywords)} keywords")
        if w.query:
            query = " ".join(w.query.split())
            what.append(f"query {query[:60] + '…' if len(query) > 60 else query}")
        if w.entities:
            what.append(f"entities {', '.join(w.entities)}")
        out.write(f"  {w.name}: {'; '.join(what)}{tags} → {channels}\n")
    _write_fallback_patterns(settings, out)
    if settings.entities:
        out.write(f"entities ({len(settings.entities)}): {', '.join(settings.entities)}\n")
    out.write(f"channels ({len(settings.channels)}):\n")
    for name, channel in settings.channels.items():
        for url in channel.urls:
            out.write(f"  {name}: {redact_url(url)}\n")
    return EXIT_OK


def _write_fallback_patterns(settings: Settings, out: TextIO) -> None:
    """The regular expressions RE2 cannot run, one line each, naming the watchlist."""
    from monitor.core.query import fallback_patterns
    from monitor.core.query.patterns import FALLBACK_TIMEOUT

    lines = [
        f"  watchlists[{i}].query: {pattern.label} {pattern.fallback_reason}, which RE2 does not support; "
        f"it runs on the bounded fallback engine (timeout {FALLBACK_TIMEOUT:g} s per field)\n"
        for i, watchlist in enumerate(settings.watchlists)
        if watchlist.query
        for pattern in fallback_patterns(watchlist.query, settings.entities)
    ]
    if lines:
        out.write(f"regular expressions on the fallback engine ({len(lines)}):\n")
        out.writelines(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.fetch.sanitize import check_expat
    from monitor.scheduler import run_daemon
    from monitor.service import Service

    settings = settings_of(args)
    expat_warning = check_expat()
    if expat_warning:
        log.warning("%s", expat_warning)
    with _daemon_lock(settings):  # SQLite: one daemon per database
        service = Service(settings)
        log.info("database %s; config %s", describe_url(settings.database), settings.source)
        try:
            run_daemon(service, config=settings.source)  # SIGHUP / file changes reload it
        finally:
            service.close()
    return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    from monitor.service import Service

    settings = settings_of(args)
    with _daemon_lock(settings):  # it writes like a daemon: not beside one on SQLite
        service = Service(settings)
        try:
            summary = service.poll(all_feeds=True)
            delivered = service.dispatch()
        finally:
            service.close()
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


def _daemon_lock(settings: Settings) -> DaemonLock:
    """This process's lock on an SQLite database (`store.lockfile`); DatabaseInUse
    (exit 2, naming the running daemon) when another daemon holds it."""
    from monitor.node import make_node
    from monitor.times import utcnow

    now = utcnow()
    return lock_database(settings.database, make_node(settings, now).name, now)
