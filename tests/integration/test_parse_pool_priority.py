"""The parse workers run at a lower CPU priority than the daemon's process,
so its storing thread, fetches and outbox are not starved by parsing."""

from __future__ import annotations

import os

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
