"""The parse pool: feed bodies parsed in worker processes, off the poll loop.

Owns the one process pool of a process (shared by every poller, so a config
reload does not start new workers), the job a worker runs, and recovery from
a broken pool (a worker killed by the OS): the pool is dropped and the body
parsed in the calling thread, so one crash costs time, never a feed.

Workers start through `forkserver`: forking a process that runs threads
(the scheduler, the fetch loop) can copy a held lock into the child. They
run `WORKER_NICENESS` below the daemon (see `_lower_priority`) and ignore
SIGINT (`_start_worker`).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any, TypeVar

from monitor.core.feedplan import Prepare, prepare_all
from monitor.core.matcher import Matcher, PackedSpec
from monitor.errors import FetchError
from monitor.fetch.parse import SourceSpec, parse_feed
from monitor.models import ParsedFeed

__all__ = [
    "ParseOutcome",
    "ParseRequest",
    "call_outcome",
    "outcome",
    "parse_job",
    "parse_now",
    "reset_pool",
    "submit",
    "submit_call",
]

# ("ok", ParsedFeed) or ("error", reason): errors come back as values
# (exceptions may not pickle).
ParseOutcome = tuple[str, "ParsedFeed | str"]
# body, response headers, final URL, max entries, what to compute ahead, how to read it
ParseRequest = tuple[bytes, dict[str, str], str, int, Prepare, SourceSpec | None]

R = TypeVar("R")
# How much nicer than the daemon its parse workers run (Unix; 19 at most).
WORKER_NICENESS = 10
_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def parse_job(
    body: bytes,
    headers: dict[str, str],
    url: str,
    max_entries: int,
    how: Prepare | None = None,
    source: SourceSpec | None = None,
) -> ParseOutcome:
    """Parse one feed body (in a worker process, or here).

    `how`: what to compute ahead for each entry, in parallel (`Prepare`):
    fingerprints, and for the entries new to this process (all of them on a
    feed's first poll: a cold start of a thousand feeds is fifty thousand
    articles) canonical URLs, story keys and matches, so the store only
    looks up and writes.
    """
    try:
        parsed = parse_feed(body, headers, url, max_entries=max_entries, source=source)
        if how is not None:
            matcher = _matcher(how.match.matcher) if how.match is not None and how.seen is not None else None
            parsed = replace(parsed, articles=prepare_all(parsed.articles, how, matcher))
        return "ok", parsed
    except FetchError as exc:
        return "error", exc.reason
    except Exception as exc:  # noqa: BLE001 - a parser crash is this feed's failure only
        return "error", f"parser crashed: {type(exc).__name__}: {exc}"


# Matchers compiled in this process for pre-matching (`Prepare.match`), by
# the digest of their spec; a config reload brings a new one, the oldest goes.
_matchers: OrderedDict[bytes, Matcher] = OrderedDict()
_MATCHERS_KEPT = 2
_matchers_lock = threading.Lock()


def _matcher(packed: PackedSpec) -> Matcher:
    if multiprocessing.parent_process() is not None:
        # A worker: an article a regular expression timed out on is matched
        # again by the store, which logs it; this process's line would be a
        # bare duplicate on stderr.
        logging.getLogger(Matcher.__module__).disabled = True
    with _matchers_lock:
        found = _matchers.get(packed.digest)
        if found is None:
            found = _matchers[packed.digest] = packed.unpack().build()
            while len(_matchers) > _MATCHERS_KEPT:
                _matchers.popitem(last=False)
        else:
            _matchers.move_to_end(packed.digest)
        return found


def parse_now(request: ParseRequest) -> ParseOutcome:
    """Parse in the calling thread (no workers, or the pool broke)."""
    return parse_job(*request)


def submit(workers: int, request: ParseRequest) -> Future[ParseOutcome] | None:
    """Queue a parse on the shared pool of `workers` processes; None when the
    pool cannot take it (broken or shutting down: parse it with `parse_now`)."""
    try:
        return _shared(workers).submit(parse_job, *request)
    except (BrokenProcessPool, RuntimeError):
        reset_pool()
        return None


def submit_call(workers: int, fn: Callable[..., R], *args: Any) -> Future[R] | None:
    """Queue any picklable job (an article page's extraction) on the shared pool; None as `submit`."""
    if not workers:
        return None
    try:
        return _shared(workers).submit(fn, *args)
    except (BrokenProcessPool, RuntimeError):
        reset_pool()
        return None


def call_outcome(future: Future[R] | None, fn: Callable[..., R], *args: Any) -> R:
    """A `submit_call` job's result; run here when there was no pool or its worker died."""
    if future is not None:
        try:
            return future.result()
        except BrokenProcessPool:
            reset_pool()
    return fn(*args)


def outcome(future: Future[ParseOutcome], request: ParseRequest) -> ParseOutcome:
    """A submitted parse's outcome; parsed here if its worker died."""
    try:
        return future.result()
    except BrokenProcessPool:
        reset_pool()
        return parse_now(request)


def _shared(workers: int) -> ProcessPoolExecutor:
    """One pool per process, shared by every poller, started on first use."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            context = multiprocessing.get_context("forkserver")
            _pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker)
            _pool_size = workers
        return _pool


def _start_worker() -> None:
    """A worker's first steps: ignore Ctrl-C, and yield the CPU to the daemon.

    Ctrl-C in a terminal signals the whole foreground process group: each
    worker died with a KeyboardInterrupt traceback on stderr while the
    daemon was still stopping cleanly. The daemon stops its workers itself
    (they exit when the pool shuts down, or when the daemon's end of the
    pipe closes).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _lower_priority()


def _lower_priority() -> None:
    """A worker's first step: yield the CPU to the daemon's own process.

    The worker's work can always wait; the daemon's cannot: its one storing
    thread is the serial stage every parsed feed goes through, and beside it
    run the fetches, the outbox and the dashboard. On a machine with as
    many workers as cores the workers took the CPU from it (and from a
    PostgreSQL server on the same machine, which the storing thread waits
    for), so the cold cycle's parsing ran ahead while its storing lagged.
    Cold cycle of 1,000 feeds on 2 cores (`bench/poll.py --side monitor`,
    runs alternated, medians): SQLite 18.3 -> 16.5 s (4 pairs, each
    faster), PostgreSQL 33.9 -> 30.3 s (5 pairs, 4 faster).
    """
    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # no os.nice (Windows), or not allowed
        pass


def reset_pool() -> None:
    """Drop the pool (its workers exit); the next submit starts a new one."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


atexit.register(reset_pool)
