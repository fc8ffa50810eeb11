"""The daemon: APScheduler jobs around the service, and a clean stop.

Due-ness lives in the database (each feed's next poll time), so the
scheduler runs a few small periodic jobs rather than one job per feed:
a poll tick, a dispatch tick and housekeeping. Late jobs are coalesced and
run, not skipped (APScheduler's default one-second misfire grace would drop
them). SIGINT/SIGTERM set a stop flag that in-flight fetches and sends
check, so the daemon exits within seconds with every transaction whole.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from monitor.core.schedule import cron_trigger
from monitor.service import Service

log = logging.getLogger(__name__)

POLL_TICK_SECONDS = 5
DISPATCH_TICK_SECONDS = 10
HOUSEKEEPING_HOURS = 6
# Held while the stop flag is set, and while a job reschedules another.
STOPPING = threading.Lock()


class _SkipNoise(logging.Filter):
    """A tick that finds the previous one still running is normal here, not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def make_scheduler(service: Service) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        executors={"default": {"type": "threadpool", "max_workers": 4}},
    )
    now = datetime.now(UTC)

    def poll_then_wake_dispatch() -> None:
        if service.poll().new_hits:
            # Instant alerts go out now, from the dispatch job's own thread,
            # so a burst of alerts never delays the next poll. Under the
            # lock, so it cannot race shutdown (modify_job would wait for the
            # job store lock that a shutting-down scheduler holds).
            with STOPPING:
                if not service.stop.is_set():
                    scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))

    scheduler.add_job(
        _safely(service, "poll", poll_then_wake_dispatch),
        "interval",
        seconds=POLL_TICK_SECONDS,
        id="poll",
        next_run_time=now,
    )
    scheduler.add_job(
        _safely(service, "dispatch", service.dispatch),
        "interval",
        seconds=DISPATCH_TICK_SECONDS,
        id="dispatch",
        next_run_time=now + timedelta(seconds=1),
    )
    for name, channel in service.settings.channels.items():
        if channel.mode == "digest" and channel.schedule:
            # The dispatcher decides which window is due (a missed one too, on
            # start); the cron job only wakes it on time.
            scheduler.add_job(
                _safely(service, f"digest {name}", service.dispatch),
                cron_trigger(channel.schedule, channel.timezone),
                id=f"digest:{name}",
            )
    scheduler.add_job(
        _safely(service, "housekeeping", service.housekeeping),
        "interval",
        hours=HOUSEKEEPING_HOURS,
        id="housekeeping",
    )
    logging.getLogger("apscheduler.scheduler").addFilter(_SkipNoise())
    logging.getLogger("apscheduler.executors.default").addFilter(_SkipNoise())
    return scheduler


def _safely(service: Service, name: str, job: object) -> object:
    def run() -> None:
        if service.stop.is_set():
            return
        try:
            job()  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - a job error must not end the daemon
            log.exception("%s job failed; will run again on its next tick", name)

    run.__name__ = f"{name}_job"
    return run


def run_daemon(service: Service, stop: threading.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set); returns after a clean shutdown."""
    stop = stop or threading.Event()
    previous = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    scheduler = make_scheduler(service)
    scheduler.start()
    log.info(
        "monitor running: %d feeds, %d watchlists, %d channels",
        len(service.settings.feeds),
        len(service.settings.watchlists),
        len(service.settings.channels),
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        with STOPPING:
            service.stop.set()
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("monitor stopped")
