"""This daemon's row in the nodes table over its life (`store.nodes`).

`run_daemon` registers it once the scheduler runs, a scheduler job beats
every `cluster.heartbeat` (with the config hash the service runs now, so a
reload shows), and a clean exit marks it stopped. None of this can end the
daemon: a failed write (the database down) is logged once per outage and
tried again on the next heartbeat, which also registers the node if the
start's registration never reached the database.
"""

from __future__ import annotations

import logging
import threading

from monitor.service import Service

log = logging.getLogger(__name__)

__all__ = ["Membership"]


class Membership:
    """Registration, heartbeats and the stop of `service.node`; thread-safe."""

    def __init__(self, service: Service, web_url: str | None = None) -> None:
        self.service = service
        self.web_url = web_url
        self._lock = threading.Lock()
        self._failing = False
        self._warned_taken = False

    def register(self) -> bool:
        """Insert (or take over) this node's row; False if the database did not answer."""
        node = self.service.node
        with self._lock:
            try:
                self.service.repo.register(node, self.service.clock(), self.web_url)
            except Exception as exc:  # noqa: BLE001 - retried by the next heartbeat
                self._failed("register", exc)
                return False
            self._recovered()
        log.info("node %s registered (pid %d on %s, config %s)", node.name, node.pid, node.host, node.config_hash)
        return True

    def beat(self) -> None:
        """One heartbeat (the scheduler's `heartbeat` job)."""
        node = self.service.node
        with self._lock:
            try:
                now = self.service.clock()
                result = self.service.repo.heartbeat(node.name, node.config_hash, now, host=node.host, pid=node.pid)
                if result == "missing":
                    self.service.repo.register(node, now, self.web_url)
                    log.info("node %s registered (its row was missing)", node.name)
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                self._failed("heartbeat", exc)
                return
            self._recovered()
            if result == "taken" and not self._warned_taken:
                self._warned_taken = True
                log.warning(
                    "node %s: another process (another pid or host) has registered under this name; "
                    "give each daemon its own cluster.node_name — `monitor status` shows the other one",
                    node.name,
                )

    def stopped(self) -> None:
        """Mark the node stopped (a clean exit); a failure is logged, the row then goes stale."""
        node = self.service.node
        with self._lock:
            try:
                self.service.repo.stopped(node.name, self.service.clock(), host=node.host, pid=node.pid)
            except Exception as exc:  # noqa: BLE001 - exiting anyway
                log.warning(
                    "node %s: could not mark it stopped (%s); it will show as stale", node.name, _first_line(exc)
                )

    def _failed(self, what: str, exc: Exception) -> None:
        if not self._failing:
            log.warning(
                "node %s: %s failed (%s); trying again every %gs",
                self.service.node.name,
                what,
                _first_line(exc),
                self.service.settings.cluster.heartbeat,
            )
        else:
            log.debug("node %s: %s failed again: %s", self.service.node.name, what, _first_line(exc))
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.info("node %s: the database answers again; heartbeats resumed", self.service.node.name)
        self._failing = False


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
