"""/healthz: is this monitor alive? A pure decision over what was observed.

Inside `monitor run` (a `RuntimeStatus` given): healthy when the scheduler
is running, the database answers `SELECT 1` within `DB_TIMEOUT`, and the
last poll tick is recent: within 3 ticks plus the fetch deadline (a tick
waits for its slowest fetch).

Under `monitor serve` alone (no scheduler in this process): healthy when
the database answers; the newest `feeds.last_polled_at` is reported
(`last_poll_at`, `last_poll_age_seconds`) for the caller to judge, since
the daemon polling that database may run anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.times import iso

DB_TIMEOUT = 2.0


@dataclass(frozen=True)
class HealthInput:
    now: datetime
    database_error: str | None
    in_process: bool  # a scheduler belongs to this process
    scheduler_running: bool = False
    last_tick: datetime | None = None
    started_at: datetime | None = None
    tick_seconds: float = 5.0
    fetch_deadline: float = 40.0
    last_poll_at: datetime | None = None
    node: str | None = None  # this process's node name (`cluster.node_name`, host:pid, or "serve host:pid")


def max_tick_age(tick_seconds: float, fetch_deadline: float) -> float:
    return 3 * tick_seconds + fetch_deadline


def decide(h: HealthInput) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 with status ok, or 503 with the reasons."""
    problems: list[str] = []
    body: dict[str, Any] = {"node": h.node, "database": "ok" if h.database_error is None else "unreachable"}
    if h.database_error is not None:
        problems.append(f"database: {h.database_error}")
    if h.in_process:
        body["mode"] = "daemon"
        body["scheduler"] = "running" if h.scheduler_running else "stopped"
        limit = max_tick_age(h.tick_seconds, h.fetch_deadline)
        body["max_tick_age_seconds"] = limit
        if not h.scheduler_running:
            problems.append("scheduler: not running")
        reference = h.last_tick or h.started_at
        if reference is not None:
            age = (h.now - reference).total_seconds()
            body["last_poll_tick_at"] = iso(h.last_tick)
            body["last_poll_tick_age_seconds"] = round(age, 3)
            if h.scheduler_running and age > limit:
                problems.append(f"poll: last tick {age:.0f}s ago (limit {limit:.0f}s)")
        else:
            body["last_poll_tick_at"] = None
    else:
        body["mode"] = "serve"
        body["scheduler"] = "not in this process"
        body["last_poll_at"] = iso(h.last_poll_at)
        body["last_poll_age_seconds"] = round((h.now - h.last_poll_at).total_seconds(), 3) if h.last_poll_at else None
    if problems:
        return 503, {"status": "unhealthy", "reasons": problems, **body}
    return 200, {"status": "ok", **body}
