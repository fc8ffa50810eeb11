"""`monitor feeds`: each feed's health, and OPML import and export.

`monitor feeds import FILE.opml` adds the OPML's feeds to config.yaml itself
(comments and layout kept, via ruamel.yaml), after checking that the result
is a valid config; duplicates are skipped and reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    repository,
    settings_of,
)
from monitor.cli.listing import clip, short_time, table
from monitor.config import find_config, parse_config
from monitor.errors import ConfigError
from monitor.records import feed_states
from monitor.times import iso, utcnow


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "feeds",
        parents=[common],
        help="feed health; import/export OPML; re-enable a disabled feed",
        description=(
            "Without an action: each feed's state (ok, failing, quiet, disabled, new) and why. "
            "`import FILE.opml` adds its feeds to the config file; `export` writes the feeds as OPML; "
            "`enable NAME` polls a disabled feed again."
        ),
    )
    p.add_argument("action", nargs="?", choices=["import", "export", "enable"])
    p.add_argument("target", nargs="?", help="the OPML file to import, or the feed to enable")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--output", "-o", help="export: write here instead of standard output")
    p.add_argument("--tag", action="append", default=[], help="import: add this tag to every imported feed")
    p.add_argument("--dry-run", action="store_true", help="import: show what would be added, change nothing")
    p.set_defaults(func=cmd_feeds)


def cmd_feeds(args: argparse.Namespace) -> int:
    if args.action == "import":
        return cmd_import(args)
    if args.action == "export":
        return cmd_export(args)
    if args.action == "enable":
        return cmd_enable(args)
    return cmd_health(args)


# --- health ----------------------------------------------------------------------


def cmd_health(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    states = feed_states(repository(settings).feed_health(), settings, utcnow())
    if args.format == "json":
        out = []
        for feed in states:
            data = asdict(feed.health)
            for key, value in data.items():
                if isinstance(value, datetime):
                    data[key] = iso(value)
            data["state"], data["reason"] = feed.state, feed.reason
            data["fulltext"] = feed.health.fulltext
            data["last_success"], data["next_poll"] = data["last_success_at"], data["next_poll_at"]
            out.append(data)
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    rows = []
    for feed in states:
        h = feed.health
        rows.append(
            [
                clip(h.name, 28),
                h.kind or "-",
                feed.state,
                short_time(h.last_success_at),
                str(h.articles),
                h.fulltext,
                short_time(h.next_poll_at) if h.active and feed.state != "disabled" else "-",
                clip(feed.reason, 70),
            ]
        )
    table(["feed", "kind", "state", "last success", "articles", "full text", "next poll", "reason"], rows, sys.stdout)
    return EXIT_OK


def cmd_enable(args: argparse.Namespace) -> int:
    if not args.target:
        print("error: feeds enable NAME", file=sys.stderr)
        return EXIT_CONFIG
    settings = settings_of(args)
    if not repository(settings).enable_feed(args.target):
        print(f"error: no stored feed named {args.target!r}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{args.target}: enabled; it is polled on the daemon's next tick")
    return EXIT_OK


# --- OPML ------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from monitor.fetch.opml import write_opml

    settings = settings_of(args)
    data = write_opml([(f.name, f.url, list(f.tags)) for f in settings.feeds])
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"wrote {len(settings.feeds)} feeds to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8"))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from monitor.fetch.opml import OpmlError, merge_feeds, read_opml

    if not args.target:
        print("error: feeds import FILE.opml", file=sys.stderr)
        return EXIT_CONFIG
    config_path = find_config(args.config)
    settings = settings_of(args)  # the config must be valid before we touch it
    try:
        result = read_opml(Path(args.target).read_bytes(), args.target)
    except OSError as exc:
        print(f"error: cannot read {args.target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OpmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    added, skipped = merge_feeds([(f.name, f.url) for f in settings.feeds], result.feeds)
    skipped = [*result.skipped, *skipped]

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    text = config_path.read_text(encoding="utf-8")
    document = yaml.load(text) or CommentedMap()
    feeds = document.get("feeds")
    if feeds is None:
        feeds = document["feeds"] = CommentedSeq()
    for feed in added:
        entry = CommentedMap(name=feed.name, url=feed.url)
        tags = list(dict.fromkeys([*feed.tags, *args.tag]))
        if tags:
            flow = CommentedSeq(tags)
            flow.fa.set_flow_style()
            entry["tags"] = flow
        feeds.append(entry)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", delete=False, dir=config_path.parent, suffix=".yaml"
    ) as tmp:
        yaml.dump(document, tmp)
    new_text = Path(tmp.name).read_text(encoding="utf-8")
    try:
        parse_config(new_text, source=str(config_path))
    except ConfigError as exc:
        os.unlink(tmp.name)
        print("error: the imported feeds would make the config invalid; nothing changed:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    for item in skipped:
        where = f"line {item.line}: " if item.line else ""
        print(f"skipped {where}{item.name}: {item.reason}")
    if args.dry_run:
        os.unlink(tmp.name)
        for feed in added:
            print(f"would add {feed.name} — {feed.url}")
        print(f"{len(added)} feeds would be added to {config_path}, {len(skipped)} skipped (dry run: nothing changed)")
        return EXIT_OK
    os.replace(tmp.name, config_path)
    print(f"added {len(added)} feeds to {config_path}, skipped {len(skipped)}")
    return EXIT_OK
