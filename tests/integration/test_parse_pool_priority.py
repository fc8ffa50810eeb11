"""The parse workers run at a lower CPU priority than the daemon's process,
so its storing thread, fetches and outbox are not starved by parsing; and
they ignore Ctrl-C, which a terminal sends to the whole process group."""

from __future__ import annotations

import os
import signal

import pytest

from monitor.fetch import pool


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no process niceness on this platform")
def test_parse_workers_run_nicer_than_the_daemon() -> None:
    pool.reset_pool()
    try:
        future = pool.submit_call(1, os.nice, 0)  # a worker's own niceness
        assert future is not None
        assert future.result(timeout=60) == min(os.nice(0) + pool.WORKER_NICENESS, 19)
        assert os.nice(0) != future.result()  # the daemon itself is left as it was
    finally:
        pool.reset_pool()


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_a_parse_worker_ignores_ctrl_c_and_keeps_working() -> None:
    pool.reset_pool()
    try:
        first = pool.submit_call(1, os.getpid)
        assert first is not None
        worker = first.result(timeout=60)
        assert worker != os.getpid()
        handler = pool.submit_call(1, signal.getsignal, signal.SIGINT)
        assert handler is not None and handler.result(timeout=60) == signal.SIG_IGN
        os.kill(worker, signal.SIGINT)
        again = pool.submit_call(1, os.getpid)
        assert again is not None
        assert again.result(timeout=60) == worker  # the same worker, still at work
    finally:
        pool.reset_pool()
