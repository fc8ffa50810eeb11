"""Who this daemon is among the daemons sharing a database.

Owns the node's identity: its name (`cluster.node_name`, default
`host:pid`), host, pid, version, when it started, and the hash of the
config it runs (so `monitor status` can warn while nodes run different
configs during a rolling change). Pure apart from reading the host name.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from datetime import datetime

from monitor import __version__
from monitor.config import Settings

__all__ = ["PER_NODE", "NodeIdentity", "config_hash", "dashboard_name", "make_node"]


@dataclass(frozen=True)
class NodeIdentity:
    name: str
    host: str
    pid: int
    version: str
    config_hash: str
    started_at: datetime


# Settings that are each node's own, so nodes running one config may differ in
# them: where the file is, its database login, whether it serves the
# dashboard, and its name, heartbeat and claim batch.
PER_NODE = frozenset({"source", "database", "web", "cluster"})


def config_hash(settings: Settings) -> str:
    """A short, stable fingerprint of the effective configuration (after
    `${VAR}` substitution and defaults) that nodes share: equal configs,
    equal hashes, whatever each node's own settings (`PER_NODE`)."""
    dumped = settings.model_dump_json(exclude=set(PER_NODE))
    return hashlib.sha256(dumped.encode("utf-8")).hexdigest()[:16]


def make_node(settings: Settings, now: datetime) -> NodeIdentity:
    host = socket.gethostname()
    pid = os.getpid()
    return NodeIdentity(
        name=settings.cluster.node_name or f"{host}:{pid}",
        host=host,
        pid=pid,
        version=__version__,
        config_hash=config_hash(settings),
        started_at=now,
    )


def dashboard_name(settings: Settings) -> str:
    """The name a dashboard-only process (`monitor serve`) gives itself on /healthz:
    `cluster.node_name`, else `serve HOST:PID` (it is no daemon: it registers no node)."""
    return settings.cluster.node_name or f"serve {socket.gethostname()}:{os.getpid()}"
