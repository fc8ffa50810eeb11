"""`monitor status`: the daemons sharing the database, their state and the feeds they hold.

Reads the nodes table (`store.nodes`); changes nothing. Warns on stderr
(and in JSON) while alive nodes run different config versions.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from monitor.cli.common import EXIT_OK, repository, settings_of
from monitor.cli.listing import clip, short_time, table
from monitor.store.nodes import NodeRecord, config_versions, rolling_change_warning
from monitor.times import iso, utcnow


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "status",
        parents=[common],
        help="the daemons sharing the database: alive, stale or stopped, and the feeds each holds",
        description=(
            "Lists every daemon (node) registered in the database: its state (alive; stale when its last "
            "heartbeat is older than 3 × cluster.heartbeat; stopped after a clean exit), host, pid, version, "
            "config hash, when it started, how long ago it last said it was alive, and how many feeds it holds "
            "a lease on. Warns when alive nodes run different config hashes (a rolling config change). "
            "Changes nothing; exit 0."
        ),
    )
    p.add_argument("--feeds", action="store_true", help="also list the feeds each node holds a lease on")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    now = utcnow()
    nodes = repository(settings).nodes(now, settings.cluster.heartbeat, feeds=args.feeds)
    warning = rolling_change_warning(nodes)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.format == "json":
        versions, alive = config_versions(nodes)
        data = {
            "nodes": [node_dict(n, now, feeds=args.feeds) for n in nodes],
            "alive": alive,
            "config_versions": versions,
            "warning": warning,
        }
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not nodes:
        print("no daemon has registered with this database yet (`monitor run` does when it starts)")
        return EXIT_OK
    rows = [
        [
            clip(n.name, 40),
            n.state,
            clip(n.host, 30),
            str(n.pid),
            n.version,
            n.config_hash,
            short_time(n.started_at),
            _age(n.heartbeat_at, now),
            str(n.leased),
        ]
        for n in nodes
    ]
    out = sys.stdout
    table(["node", "state", "host", "pid", "version", "config", "started", "heartbeat", "feeds"], rows, out)
    if args.feeds:
        for n in nodes:
            if n.feeds:
                out.write(f"\n{n.name} holds {n.leased} feed{'s' if n.leased != 1 else ''}:\n")
                out.writelines(f"  {clip(feed, 100)}\n" for feed in n.feeds)
    return EXIT_OK


def node_dict(node: NodeRecord, now: datetime, *, feeds: bool) -> dict[str, Any]:
    """One node in `monitor status --format json`."""
    data: dict[str, Any] = {
        "name": node.name,
        "state": node.state,
        "host": node.host,
        "pid": node.pid,
        "version": node.version,
        "config_hash": node.config_hash,
        "web_url": node.web_url,
        "started_at": iso(node.started_at),
        "heartbeat_at": iso(node.heartbeat_at),
        "heartbeat_age_seconds": round((now - node.heartbeat_at).total_seconds(), 1),
        "stopped_at": iso(node.stopped_at),
        "feeds_leased": node.leased,
    }
    if feeds:
        data["feeds"] = list(node.feeds)
    return data


def _age(when: datetime, now: datetime) -> str:
    seconds = max((now - when).total_seconds(), 0.0)
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"
