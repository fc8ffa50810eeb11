"""Delivery through a real `monitor run` subprocess: a kill -9 in the middle of
dispatching loses nothing, a normal restart doubles nothing, a scheduled digest
arrives once, and a burst of 1,000 alerts does not hold up polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from tests.servers import wait_for


def burst_feed(count: int, prefix: str = "Cartel story", text: str = "The cartel struck again, report {i}.") -> bytes:
    items = "".join(
        f"<item><title>{prefix} {i}</title><link>http://burst.example/{prefix.replace(' ', '-')}/{i}</link>"
        f"<guid>{prefix}-{i}</guid><description>{text.format(i=i)}</description></item>"
        for i in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Burst</title>{items}</channel></rss>'.encode()


def write(tmp_path: Path, feeds: list[dict], channels: dict, **extra) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "database": f"sqlite:///{tmp_path}/m.db",
        "poll": {"interval": "1h", "timeout": "5s", "max_entries": 2000},
        "delivery": {"claim_timeout": "2s", "retry_delay": "1s"},
        "feeds": feeds,
        "channels": channels,
        "watchlists": [{"name": "cartels", "keywords": ["cartel"], "channels": list(channels)}],
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def start(path: Path, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"daemon-{os.urandom(3).hex()}.log", "w"),
        cwd=tmp_path,
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def titles(webhook_server) -> Counter:
    return Counter(p.json["title"] for p in webhook_server.posts_to("/hook"))


def interrupt_mid_dispatch_then_restart(tmp_path, feed_server, webhook_server, interrupt) -> Counter:
    """40 alerts to a slow receiver; `interrupt(proc)` after 10 sends; restart; all delivered."""
    url = feed_server.add("/burst.xml", burst_feed(40))
    path = write(
        tmp_path,
        [{"name": "Burst", "url": url}],
        {"hook": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]}},
    )
    webhook_server.delay = 0.05
    proc = start(path, tmp_path)
    try:
        wait_for(lambda: len(webhook_server.attempts) >= 10, timeout=30)
        interrupt(proc)
        assert len(webhook_server.posts_to("/hook")) < 40
        webhook_server.delay = 0
        proc = start(path, tmp_path)
        wait_for(lambda: len(titles(webhook_server)) == 40, timeout=30)
    finally:
        stop(proc)
    return titles(webhook_server)


def test_kill_9_mid_dispatch_then_restart_delivers_everything(tmp_path, feed_server, webhook_server) -> None:
    def kill(proc: subprocess.Popen) -> None:
        proc.kill()  # SIGKILL: no chance to finish the send in flight
        proc.wait()

    counts = interrupt_mid_dispatch_then_restart(tmp_path, feed_server, webhook_server, kill)
    assert set(counts) == {f"[cartels] Cartel story {i}" for i in range(40)}
    # At most the one send that was in flight when the process died is doubled.
    assert sum(counts.values()) - 40 <= 1


def test_normal_restart_mid_dispatch_doubles_nothing(tmp_path, feed_server, webhook_server) -> None:
    def terminate(proc: subprocess.Popen) -> None:
        stop(proc, signal.SIGTERM)
        assert proc.returncode == 0

    counts = interrupt_mid_dispatch_then_restart(tmp_path, feed_server, webhook_server, terminate)
    assert len(counts) == 40 and max(counts.values()) == 1


def test_a_digest_scheduled_seconds_ahead_arrives_once(tmp_path, feed_server, smtp_server) -> None:
    url = feed_server.add("/burst.xml", burst_feed(3))
    # Fire at the next multiple of 5 seconds that leaves time for the first poll.
    now = datetime.now(UTC)
    fire = (now + timedelta(seconds=6)).replace(microsecond=0)
    path = write(
        tmp_path,
        [{"name": "Burst", "url": url}],
        {
            "desk": {
                "urls": [smtp_server.mailto_url()],
                "mode": "digest",
                "schedule": f"{fire.second} {fire.minute} {fire.hour} * * *",
            }
        },
    )
    proc = start(path, tmp_path)
    try:
        wait_for(lambda: len(smtp_server.messages) == 1, timeout=30)
        # The next tick of the dispatcher (every 10 s) must not send it again.
        wait_for(lambda: datetime.now(UTC) > fire + timedelta(seconds=12), timeout=30)
    finally:
        stop(proc)
    (mail,) = smtp_server.messages
    assert "3 hits" in mail.subject


def test_a_burst_of_1000_alerts_does_not_hold_up_polling(tmp_path, feed_server, webhook_server) -> None:
    burst = feed_server.add("/burst.xml", burst_feed(1000))
    # Its own story (the same text would be a copy of a burst item, sent once).
    other = feed_server.add("/other.xml", burst_feed(1, "Other", "Police in another city seized cartel cash."))
    path = write(
        tmp_path,
        [{"name": "Burst", "url": burst}, {"name": "Other", "url": other, "interval": "2s"}],
        {"hook": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]}},
    )
    webhook_server.delay = 0.02  # a slow provider: the burst takes 20 s or more
    proc = start(path, tmp_path)
    try:
        wait_for(lambda: len(webhook_server.posts_to("/hook")) >= 20, timeout=60)
        polls_at_start = feed_server.count("/other.xml")
        # While the burst is still being sent, the 2-second feed keeps being polled.
        wait_for(lambda: feed_server.count("/other.xml") >= polls_at_start + 2, timeout=30)
        assert len(webhook_server.posts_to("/hook")) < 1001
        wait_for(lambda: len(webhook_server.posts_to("/hook")) == 1001, timeout=120)
    finally:
        stop(proc)
    assert len(titles(webhook_server)) == 1001
