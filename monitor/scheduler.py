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
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.core.schedule import cron_trigger
from monitor.membership import Membership
from monitor.metrics import METRICS
from monitor.runtime import RuntimeStatus
from monitor.service import Service

log = logging.getLogger(__name__)

POLL_TICK_SECONDS = 5
DISPATCH_TICK_SECONDS = 10
HOUSEKEEPING_HOURS = 6
# Housekeeping (retention, vacuum) also runs this long after a start, so a
# daemon restarted more often than every HOUSEKEEPING_HOURS still prunes daily.
HOUSEKEEPING_FIRST_DELAY_SECONDS = 60
# The spike job's first run after a start (it rebuilds missing counts then).
SPIKES_FIRST_DELAY_SECONDS = 20
# Held while the stop flag is set, and while a job reschedules another.
STOPPING = threading.Lock()


class _SkipNoise(logging.Filter):
    """A tick that finds the previous one still running is normal here, not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def make_scheduler(
    service: Service, status: RuntimeStatus | None = None, membership: Membership | None = None
) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        executors={"default": {"type": "threadpool", "max_workers": 4}},
    )
    now = datetime.now(UTC)

    def poll_then_wake_dispatch() -> None:
        if status is not None:
            status.poll_ticked()
        summary = service.poll()
        if status is not None:
            status.poll_ticked()
        if summary.new_hits:
            # Instant alerts go out now, from the dispatch job's own thread,
            # so a burst of alerts never delays the next poll. Under the
            # lock, so it cannot race shutdown (modify_job would wait for the
            # job store lock that a shutting-down scheduler holds).
            with STOPPING:
                if not service.stop.is_set():
                    scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))
                    scheduler.modify_job("spikes", next_run_time=datetime.now(UTC))

    def spikes_then_wake_dispatch() -> None:
        run = service.spikes()
        if run is not None and run.queued:
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
    schedule_digests(scheduler, service)
    # Spike alerts (monitor.spikes): on the hour, and after a poll cycle that stored hits.
    scheduler.add_job(
        _safely(service, "spikes", spikes_then_wake_dispatch),
        "cron",
        minute=0,
        second=30,
        id="spikes",
        next_run_time=now + timedelta(seconds=SPIKES_FIRST_DELAY_SECONDS),
    )
    scheduler.add_job(
        _safely(service, "housekeeping", lambda: service.housekeeping(every=HOUSEKEEPING_HOURS * 3600)),
        "interval",
        hours=HOUSEKEEPING_HOURS,
        id="housekeeping",
        next_run_time=now + timedelta(seconds=HOUSEKEEPING_FIRST_DELAY_SECONDS),
    )
    # This node's heartbeat in the nodes table (`monitor status`); it logs its own failures.
    beat = service.settings.cluster.heartbeat
    scheduler.add_job(
        _safely(service, "heartbeat", (membership or Membership(service)).beat),
        "interval",
        seconds=beat,
        id="heartbeat",
        next_run_time=now + timedelta(seconds=beat),
    )
    scheduler.add_listener(_observe_lag, EVENT_JOB_SUBMITTED)
    logging.getLogger("apscheduler.scheduler").addFilter(_SkipNoise())
    logging.getLogger("apscheduler.executors.default").addFilter(_SkipNoise())
    return scheduler


def schedule_digests(scheduler: BackgroundScheduler, service: Service) -> None:
    """Make the digest cron jobs match the service's channels (added, rescheduled, removed).

    The dispatcher decides which window is due (a missed one too, on start);
    a cron job only wakes it on time. Also called after a config reload.
    """
    wanted = {
        f"digest:{name}": (name, channel)
        for name, channel in service.settings.channels.items()
        if channel.mode == "digest" and channel.schedule
    }
    with STOPPING:
        if service.stop.is_set():
            return
        for job in scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id not in wanted:
                scheduler.remove_job(job.id)
        for job_id, (name, channel) in wanted.items():
            assert channel.schedule is not None
            scheduler.add_job(
                _safely(service, f"digest {name}", service.dispatch),
                cron_trigger(channel.schedule, channel.timezone),
                id=job_id,
                replace_existing=True,
            )


def _observe_lag(event: JobSubmissionEvent) -> None:
    """Scheduler lag: how late a job starts against its planned run time."""
    if event.scheduled_run_times:
        lag = (datetime.now(UTC) - max(event.scheduled_run_times)).total_seconds()
        METRICS.scheduler_lag.labels(event.job_id.split(":")[0]).observe(max(lag, 0.0))


def _safely(service: Service, name: str, job: object) -> object:
    def run() -> None:
        if service.stop.is_set():
            return
        try:
            job()  # type: ignore[operator]
        except Exception:
            log.exception("%s job failed; will run again on its next tick", name)

    run.__name__ = f"{name}_job"
    return run


def run_daemon(
    service: Service, stop: threading.Event | None = None, *, config: str | os.PathLike[str] | None = None
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set); returns after a clean shutdown.

    With `config` (the config file's path), SIGHUP and changes to that file
    reload it into the running service (`monitor.reload`).
    """
    stop = stop or threading.Event()
    previous = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    status = RuntimeStatus(poll_tick_seconds=POLL_TICK_SECONDS)
    web = None
    if service.settings.web.enabled:
        from monitor.web.server import start_in_thread  # late: the web edge is optional

        web = start_in_thread(
            service.settings, service.repo.engine, status, lambda: service.settings, node=service.node.name
        )
    membership = Membership(service, web.url if web is not None else None)
    scheduler = make_scheduler(service, status, membership)
    scheduler.start()
    status.scheduler_started()
    membership.register()
    reloader = None
    if config is not None:
        from monitor.reload import Reloader

        reloader = live = Reloader(service, config, after=lambda: schedule_digests(scheduler, service))
        live.start()
        hup = getattr(signal, "SIGHUP", None)
        if hup is not None and threading.current_thread() is threading.main_thread():
            previous[hup] = signal.signal(hup, lambda _s, _f: live.request("SIGHUP", force=True))
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
        if reloader is not None:
            reloader.stop()
        scheduler.shutdown(wait=True)
        status.scheduler_stopped()
        membership.stopped()
        if web is not None:
            web.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("monitor stopped")
