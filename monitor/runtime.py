"""What this process is doing right now, for /healthz: a small shared status object.

`run_daemon` (scheduler.py) creates one and marks the scheduler started and
stopped and each poll tick; the web app reads it. `monitor serve` alone has
no scheduler in its process and passes none (health then looks at the
database instead, see `monitor.web.health`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class RuntimeStatus:
    """Thread-safe: the scheduler's thread writes, the web server's thread reads."""

    poll_tick_seconds: float = 5.0
    scheduler_running: bool = False
    started_at: datetime | None = None
    last_poll_tick_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def scheduler_started(self, now: datetime | None = None) -> None:
        with self._lock:
            self.scheduler_running = True
            self.started_at = now or datetime.now(UTC)

    def scheduler_stopped(self) -> None:
        with self._lock:
            self.scheduler_running = False

    def poll_ticked(self, now: datetime | None = None) -> None:
        with self._lock:
            self.last_poll_tick_at = now or datetime.now(UTC)

    def snapshot(self) -> tuple[bool, datetime | None, datetime | None]:
        """(scheduler_running, started_at, last_poll_tick_at), read together."""
        with self._lock:
            return self.scheduler_running, self.started_at, self.last_poll_tick_at
