"""The nodes table: which daemons share this database, and what each holds.

`NodeStore` is a base of `Repository` (the daemon's writes: register,
heartbeat, stopped); `list_nodes` and `leases_held` are plain reads over a
session, so readers with a session of their own (the dashboard's `Views`)
use the same queries as `monitor status`.

Who writes a row, and what if two processes write at once: each daemon
writes only its own row, keyed by its node name. Two daemons with
different names touch different rows and never conflict. Registering is one
`INSERT … ON CONFLICT (name) DO UPDATE`, so a daemon restarted under the
same configured name takes its old row over (and two starting at one
instant under one name both succeed; the later one owns the row). The
heartbeat and the stop match the row's host and pid as well as its name, so
when two live processes are misconfigured with one name, the one whose row
was taken over learns it (`"taken"`) instead of writing it back and forth.
The one exception: a daemon registering deletes rows that have been
stopped, or silent, for `FORGET_AFTER` (a crashed node's row nobody will
write again); deleting them twice at once is harmless.

A node's state is derived when read: `stopped` after a clean exit, `stale`
when its last heartbeat is older than `STALE_HEARTBEATS` heartbeats (it
crashed, hangs, or lost the database), else `alive`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from monitor.store.schema import FeedRow, NodeRow

if TYPE_CHECKING:
    from monitor.node import NodeIdentity

__all__ = [
    "FORGET_AFTER",
    "STALE_HEARTBEATS",
    "HeartbeatResult",
    "NodeRecord",
    "NodeStore",
    "config_versions",
    "leases_held",
    "list_nodes",
    "node_state",
    "rolling_change_warning",
]

# A node silent for this many heartbeat intervals is stale.
STALE_HEARTBEATS = 3
# Rows stopped or silent this long are forgotten when the next daemon registers.
FORGET_AFTER = timedelta(days=7)

NodeState = Literal["alive", "stale", "stopped"]
HeartbeatResult = Literal["ok", "missing", "taken"]
_STATE_ORDER = {"alive": 0, "stale": 1, "stopped": 2}


@dataclass(frozen=True)
class NodeRecord:
    """A daemon as `monitor status` and the dashboard show it."""

    name: str
    state: NodeState
    host: str
    pid: int
    version: str
    config_hash: str
    web_url: str | None
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    leased: int  # feeds it holds an unexpired lease on
    feeds: tuple[str, ...] = ()  # their names, when asked for


def node_state(heartbeat_at: datetime, stopped_at: datetime | None, now: datetime, heartbeat: float) -> NodeState:
    """alive / stale / stopped, from the row's times and the heartbeat interval (seconds)."""
    if stopped_at is not None:
        return "stopped"
    if (now - heartbeat_at).total_seconds() > STALE_HEARTBEATS * heartbeat:
        return "stale"
    return "alive"


def config_versions(nodes: Sequence[NodeRecord]) -> tuple[int, int]:
    """(distinct config hashes, nodes) among the alive nodes."""
    alive = [n for n in nodes if n.state == "alive"]
    return len({n.config_hash for n in alive}), len(alive)


def rolling_change_warning(nodes: Sequence[NodeRecord]) -> str | None:
    """A warning when alive nodes run different configs (a rolling config change), else None."""
    versions, alive = config_versions(nodes)
    if versions < 2:
        return None
    return f"a rolling config change is in progress: {versions} config versions among {alive} alive nodes"


def list_nodes(session: Session, now: datetime, heartbeat: float, *, feeds: bool = False) -> list[NodeRecord]:
    """Every registered node with its state and its unexpired feed leases (names too with `feeds`).

    Alive nodes first, then stale, then stopped; by name within each.
    """
    counts: dict[str, int] = defaultdict(int)
    names: dict[str, list[str]] = defaultdict(list)
    live = (FeedRow.lease_owner.is_not(None), FeedRow.lease_until > now)
    if feeds:
        for owner, feed in session.execute(
            select(FeedRow.lease_owner, FeedRow.name).where(*live).order_by(FeedRow.name)
        ):
            counts[str(owner)] += 1
            names[str(owner)].append(feed)
    else:
        for owner, count in session.execute(
            select(FeedRow.lease_owner, func.count()).where(*live).group_by(FeedRow.lease_owner)
        ):
            counts[str(owner)] = int(count)
    records = [
        NodeRecord(
            name=row.name,
            state=node_state(row.heartbeat_at, row.stopped_at, now, heartbeat),
            host=row.host,
            pid=row.pid,
            version=row.version,
            config_hash=row.config_hash,
            web_url=row.web_url,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            stopped_at=row.stopped_at,
            leased=counts.get(row.name, 0),
            feeds=tuple(names.get(row.name, ())),
        )
        for row in session.scalars(select(NodeRow))
    ]
    records.sort(key=lambda n: (_STATE_ORDER[n.state], n.name))
    return records


def leases_held(session: Session, name: str, now: datetime) -> int:
    """Feeds `name` holds an unexpired lease on (`monitor_leases_held`)."""
    query = select(func.count()).select_from(FeedRow).where(FeedRow.lease_owner == name, FeedRow.lease_until > now)
    return int(session.scalar(query) or 0)


class NodeStore:
    """This daemon's row in the nodes table, and the list of all of them."""

    _session: sessionmaker  # type: ignore[type-arg]

    def register(self, node: NodeIdentity, now: datetime, web_url: str | None = None) -> None:
        """Insert this node's row, or take over the row of its name (a restart): alive from `now`.

        Also forgets rows stopped or silent for `FORGET_AFTER`.
        """
        values = {
            "name": node.name,
            "host": node.host,
            "pid": node.pid,
            "version": node.version,
            "config_hash": node.config_hash,
            "web_url": web_url,
            "started_at": node.started_at,
            "heartbeat_at": now,
            "stopped_at": None,
        }
        with self._session.begin() as session:
            insert = _insert(session).values(**values)
            session.execute(
                insert.on_conflict_do_update(
                    index_elements=[NodeRow.name],
                    set_={key: insert.excluded[key] for key in values if key != "name"},
                )
            )
            old = now - FORGET_AFTER
            session.execute(
                delete(NodeRow).where(
                    NodeRow.name != node.name,
                    or_(NodeRow.stopped_at < old, NodeRow.heartbeat_at < old),
                )
            )

    def heartbeat(
        self, name: str, config_hash: str, now: datetime, *, host: str | None = None, pid: int | None = None
    ) -> HeartbeatResult:
        """Say this node is alive (with the config it runs now).

        `"ok"`; `"missing"` when no row has this name (deleted, or the
        register at start failed: register again); `"taken"` when the row
        belongs to another process (`host`/`pid` differ: two live daemons
        configured with one name), which is left alone.
        """
        with self._session.begin() as session:
            result = session.execute(
                _own(update(NodeRow), name, host, pid).values(heartbeat_at=now, config_hash=config_hash)
            )
            if int(getattr(result, "rowcount", 0) or 0):
                return "ok"
            exists = session.scalar(select(NodeRow.name).where(NodeRow.name == name))
            return "missing" if exists is None else "taken"

    def stopped(self, name: str, now: datetime, *, host: str | None = None, pid: int | None = None) -> bool:
        """Mark this node stopped (a clean exit); False when the row is not (or no longer) its own."""
        with self._session.begin() as session:
            result = session.execute(_own(update(NodeRow), name, host, pid).values(stopped_at=now, heartbeat_at=now))
            return bool(getattr(result, "rowcount", 0))

    def nodes(self, now: datetime, heartbeat: float, *, feeds: bool = False) -> list[NodeRecord]:
        """Every registered node (see `list_nodes`); `heartbeat`: the interval that decides staleness."""
        with self._session.begin() as session:
            return list_nodes(session, now, heartbeat, feeds=feeds)

    def leases_held(self, name: str, now: datetime) -> int:
        with self._session.begin() as session:
            return leases_held(session, name, now)


def _own(query: Any, name: str, host: str | None, pid: int | None) -> Any:
    """`query` limited to the row of `name` (and of this host and pid, when given)."""
    query = query.where(NodeRow.name == name)
    if host is not None:
        query = query.where(NodeRow.host == host)
    if pid is not None:
        query = query.where(NodeRow.pid == pid)
    return query


def _insert(session: Session) -> Any:
    """The dialect's INSERT (with ON CONFLICT) for the session's database."""
    table: Any = NodeRow.__table__
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
