"""Config reload: SIGHUP or config.yaml changing on disk → validate → swap in.

Owns when a reload happens and what it logs. `ConfigWatcher` watches the
config file's directory (editors save by writing a new file and renaming it
over the old one, which a watch on the file itself would lose) for changes to
that one file name, and waits for edits to settle. `Reloader` runs reloads on
one worker thread: requests from the watcher and from the SIGHUP handler are
coalesced, the file is read and validated exactly as `monitor check` does,
and a valid one goes to `Service.apply`, which swaps it in between cycles.
An invalid file is logged with the same problem lines as `monitor check`
and the running configuration stays. The database URL cannot change while
running (rejected; restart to switch databases).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, watch

from monitor.config import Settings, load_config
from monitor.errors import ConfigError
from monitor.service import Service

log = logging.getLogger(__name__)

# watchfiles: yield once no change was seen for STEP ms (at most DEBOUNCE ms
# after the first), so a save made of several writes is one reload.
STEP_MS = 300
DEBOUNCE_MS = 2000


def describe_reload(old: Settings, new: Settings) -> str:
    """'3 feeds (+1 -0), 2 watchlists, 1 channels': the reload's log line."""
    before = {feed.name for feed in old.feeds}
    after = {feed.name for feed in new.feeds}
    return (
        f"{len(new.feeds)} feeds (+{len(after - before)} -{len(before - after)}), "
        f"{len(new.watchlists)} watchlists, {len(new.channels)} channels"
    )


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """Settings a reload accepts but that take effect only after a restart."""
    return ["web"] if old.web != new.web else []


class ConfigWatcher:
    """Calls `on_change()` from its own thread when the config file changes on disk."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_change: Callable[[], None],
        *,
        step_ms: int = STEP_MS,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        # Not resolved: a symlinked config is watched where the link is.
        self.path = Path(path).absolute()
        self.on_change = on_change
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="config-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """True once the watch is in place (tests edit the file only then)."""
        return self._ready.wait(timeout)

    def _is_config(self, _change: Change, changed: str) -> bool:
        return os.path.basename(changed) == self.path.name

    def _run(self) -> None:
        try:
            changes = watch(
                self.path.parent,
                watch_filter=self._is_config,
                step=self.step_ms,
                debounce=self.debounce_ms,
                stop_event=self._stop,
                recursive=False,
                raise_interrupt=False,
                rust_timeout=1000,
                yield_on_timeout=True,
            )
            for batch in changes:
                if not self._ready.is_set():  # the first batch (or timeout): watching
                    log.info("watching %s for changes (SIGHUP reloads it too)", self.path)
                    self._ready.set()
                if batch and not self._stop.is_set():
                    self.on_change()
        except Exception:  # reloads by SIGHUP still work
            log.exception("cannot watch %s for changes; reload with SIGHUP instead", self.path)
        finally:
            self._ready.set()


class Reloader:
    """Reloads the config into a running service; requests coalesce on one worker thread.

    `request(force=False)` (the file watcher) reloads only when the file's
    bytes differ from the last ones read, so touching or re-saving the same
    text does nothing; `request(force=True)` (SIGHUP) always reloads, which
    also picks up changed OPML files the config lists. `after` is called
    after each successful reload (the daemon reschedules digest jobs there).
    """

    def __init__(
        self,
        service: Service,
        path: str | os.PathLike[str],
        *,
        after: Callable[[], None] | None = None,
        watch_file: bool = True,
    ) -> None:
        self.service = service
        self.path = Path(path)
        self.after = after
        self.watcher = ConfigWatcher(self.path, lambda: self.request("file changed")) if watch_file else None
        self._seen = self._fingerprint()
        self._lock = threading.Lock()
        self._pending: dict[str, bool] = {}
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="config-reloader", daemon=True)
        self._thread.start()
        if self.watcher is not None:
            self.watcher.start()

    def stop(self) -> None:
        """Stop watching; a reload under way finishes first."""
        self._closing.set()
        self._wake.set()
        if self.watcher is not None:
            self.watcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def request(self, reason: str, *, force: bool = False) -> None:
        """Ask for a reload; returns at once (safe from a signal handler)."""
        with self._lock:
            self._pending[reason] = self._pending.get(reason, False) or force
        self._wake.set()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            if self._closing.is_set():
                return
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, {}
            if pending and not self.service.stop.is_set():
                self.reload(", ".join(pending), force=any(pending.values()))

    # --- one reload ------------------------------------------------------------

    def _fingerprint(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def reload(self, reason: str = "requested", *, force: bool = True) -> bool:
        """Read, validate and apply the config file now; True when it was applied."""
        seen = self._fingerprint()
        if not force and seen == self._seen:
            log.debug("config %s unchanged (%s); not reloading", self.path, reason)
            return False
        self._seen = seen
        old = self.service.settings
        log.info("reloading config %s (%s)", self.path, reason)
        try:
            new = load_config(self.path)
            self.service.apply(new)
        except ConfigError as exc:
            count = len(exc.problems)
            log.error(
                "config reload rejected: %s: invalid configuration (%d problem%s); keeping the running config",
                self.path,
                count,
                "s" if count != 1 else "",
            )
            for problem in exc.problems:
                log.error("  %s", problem)
            return False
        except Exception:  # e.g. the database is down: keep running as before
            log.exception("config reload failed: %s; keeping the running config", self.path)
            return False
        log.info("config reloaded: %s", describe_reload(old, new))
        for section in restart_only_changes(old, new):
            log.warning("config reload: %s settings changed; they take effect after a restart", section)
        if self.after is not None:
            try:
                self.after()
            except Exception:
                log.exception("config reloaded, but updating the schedule failed")
        return True
