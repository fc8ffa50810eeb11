"""`monitor deliveries` (list, retry) and `monitor notify-test`: the outbox from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from monitor.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    repository,
    settings_of,
)
from monitor.cli.listing import clip, short_time, table
from monitor.config import Settings
from monitor.models import HitRecord, Snippet
from monitor.records import delivery_dict
from monitor.store.outbox import UNSENT, Outbox
from monitor.times import utcnow


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "deliveries",
        parents=[common],
        help="list alerts waiting, failed or sent; retry failed ones",
        description=(
            "List the outbox (default: everything not yet sent), or re-queue failed alerts: "
            "`monitor deliveries retry ID...` or `monitor deliveries retry --failed`."
        ),
    )
    p.add_argument("action", nargs="?", choices=["retry"], help="re-queue failed deliveries")
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="delivery ids to retry")
    p.add_argument("--failed", action="store_true", help="only failed deliveries (with retry: all of them)")
    p.add_argument("--all", action="store_true", help="include sent deliveries")
    p.add_argument("--channel", "-c", help="only this channel")
    p.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_deliveries)

    p = sub.add_parser(
        "notify-test",
        parents=[common],
        help="send a sample alert through a channel and report each URL's outcome",
    )
    p.add_argument("channel", help="a channel name from the config")
    p.set_defaults(func=cmd_notify_test)


def cmd_deliveries(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    outbox = Outbox(repository(settings).engine)
    if args.action == "retry":
        if not args.ids and not args.failed:
            print("error: give delivery ids to retry, or --failed for all failed ones", file=sys.stderr)
            return EXIT_CONFIG
        count = outbox.retry(args.ids, all_failed=args.failed, now=utcnow())
        noun = "delivery" if count == 1 else "deliveries"
        print(f"re-queued {count} failed {noun}; the daemon sends them on its next dispatch")
        return EXIT_OK
    statuses: tuple[str, ...] = ("failed",) if args.failed else () if args.all else UNSENT
    rows = outbox.list(statuses=statuses, channel=args.channel, limit=args.limit)
    if args.format == "json":
        json.dump([delivery_dict(row) for row in rows], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    table(
        ["id", "channel", "status", "tries", "watchlist", "title", "created", "next/sent", "last error"],
        [
            [
                str(r.id),
                clip(r.channel, 16),
                r.status + (f" ({r.message})" if r.message else ""),
                str(r.attempts),
                clip(r.watchlist, 16),
                clip(r.title, 40),
                short_time(r.created_at),
                short_time(r.sent_at or r.next_attempt_at),
                clip(r.last_error or "", 60),
            ]
            for r in rows
        ],
        sys.stdout,
    )
    counts = outbox.counts()
    print(", ".join(f"{status}: {count}" for status, count in sorted(counts.items())) or "the outbox is empty")
    return EXIT_OK


def sample_hit() -> HitRecord:
    now = utcnow()
    return HitRecord(
        id=0,
        watchlist="notify-test",
        title="Test alert from monitor: the channel works",
        link="https://example.org/monitor/notify-test",
        feed="monitor",
        terms=("test",),
        snippet="This is a test alert sent by monitor notify-test. No action is needed.",
        score=1.0,
        published=now,
        found_at=now,
        snippets=(Snippet("This is a test alert sent by monitor notify-test. No action is needed.", ((10, 14),)),),
    )


def cmd_notify_test(args: argparse.Namespace) -> int:
    from monitor.notify.redact import privacy_url
    from monitor.notify.render import medium_for, render_alert
    from monitor.notify.sender import Notifier, limits_for

    settings: Settings = settings_of(args)
    channel = settings.channels.get(args.channel)
    if channel is None:
        known = ", ".join(settings.channels) or "none defined"
        print(f"error: no channel named {args.channel!r} (known: {known})", file=sys.stderr)
        return EXIT_CONFIG
    notifier = Notifier()
    failures = 0
    hit = sample_hit()
    for url in channel.urls:
        message = render_alert(hit, medium_for(url), tz=channel.timezone, limits=limits_for(url), channel=args.channel)
        result = notifier.send(url, message)
        if result.ok:
            print(f"ok: {privacy_url(url)}")
        else:
            failures += 1
            print(f"failed: {privacy_url(url)}: {result.reason}")
    return EXIT_FAILURE if failures else EXIT_OK
