"""Membership (issue 14.5, 14.7): the nodes table, `monitor status`, the node on
/healthz, /metrics and the dashboard, and SQLite refusing a second daemon.

Real databases (SQLite, and PostgreSQL when configured), real `monitor`
processes for the daemon lock and the CLI, the real web app under uvicorn.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, insert, update

from monitor.config import Settings, load_config
from monitor.membership import Membership
from monitor.node import NodeIdentity
from monitor.store.engine import make_engine
from monitor.store.lockfile import DatabaseInUse, lock_database, lock_path
from monitor.store.nodes import FORGET_AFTER, rolling_change_warning
from monitor.store.repository import Repository
from monitor.store.schema import FeedRow, NodeRow
from monitor.times import utcnow
from monitor.web.server import WebThread, make_server
from tests.integration.test_cli_and_daemon import run_cli
from tests.servers import wait_for

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def identity(name: str, *, config: str = "c0ffee00c0ffee00", pid: int = 1000, host: str = "vm",
             started: datetime = NOW) -> NodeIdentity:
    return NodeIdentity(name=name, host=host, pid=pid, version="0.1.0", config_hash=config, started_at=started)


def add_feeds(engine: Any, leases: dict[str, tuple[str | None, datetime | None]]) -> None:
    """Feeds named as the keys, each leased to (owner, until)."""
    with engine.begin() as conn:
        for name, (owner, until) in leases.items():
            conn.execute(insert(FeedRow), {"name": name, "url": f"https://{name}.example/rss", "config_url": f"https://{name}.example/rss",
                                           "active": True, "created_at": NOW, "lease_owner": owner, "lease_until": until})


# --- the store -------------------------------------------------------------------------------


def test_nodes_register_beat_stop_and_show_their_leases(database_url: str) -> None:
    engine = make_engine(database_url)
    repo = Repository(engine)
    repo.register(identity("a", config="1111"), NOW, "http://a:8080/")
    repo.register(identity("b", config="2222", pid=2000), NOW - timedelta(seconds=31))
    repo.register(identity("c", pid=3000), NOW - timedelta(minutes=5))
    repo.stopped("c", NOW - timedelta(minutes=4), host="vm", pid=3000)
    add_feeds(engine, {
        "one": ("a", NOW + timedelta(minutes=1)), "two": ("a", NOW + timedelta(minutes=1)),
        "expired": ("b", NOW - timedelta(seconds=1)), "free": (None, None),
    })

    nodes = repo.nodes(NOW, heartbeat=10, feeds=True)
    assert [(n.name, n.state, n.leased, n.feeds) for n in nodes] == [
        ("a", "alive", 2, ("one", "two")),
        ("b", "stale", 0, ()),  # silent for 31 s > 3 × 10 s; its lease has expired
        ("c", "stopped", 0, ()),
    ]
    assert nodes[0].web_url == "http://a:8080/" and nodes[0].pid == 1000
    assert repo.leases_held("a", NOW) == 2 and repo.leases_held("b", NOW) == 0
    # Only alive nodes count: b (stale) runs another config, so no warning yet.
    assert rolling_change_warning(nodes) is None

    assert repo.heartbeat("b", "2222", NOW, host="vm", pid=2000) == "ok"
    nodes = repo.nodes(NOW, heartbeat=10)
    assert [(n.name, n.state) for n in nodes][:2] == [("a", "alive"), ("b", "alive")]
    assert nodes[0].feeds == () and nodes[0].leased == 2  # names only when asked for
    assert rolling_change_warning(nodes) == (
        "a rolling config change is in progress: 2 config versions among 2 alive nodes"
    )
    # A heartbeat carries the config hash the node runs now (after a reload).
    assert repo.heartbeat("b", "1111", NOW, host="vm", pid=2000) == "ok"
    assert rolling_change_warning(repo.nodes(NOW, heartbeat=10)) is None
    engine.dispose()


def test_a_restart_under_one_name_takes_its_row_over_and_the_old_process_learns_it(database_url: str) -> None:
    engine = make_engine(database_url)
    repo = Repository(engine)
    repo.register(identity("desk-1", pid=1000), NOW - timedelta(hours=1))
    repo.stopped("desk-1", NOW - timedelta(minutes=30), host="vm", pid=1000)
    # Restarted (same configured name, a new pid): one row, alive again, not stopped.
    repo.register(identity("desk-1", pid=1001, started=NOW), NOW)
    (node,) = repo.nodes(NOW, heartbeat=10)
    assert (node.name, node.pid, node.state, node.stopped_at, node.started_at) == ("desk-1", 1001, "alive", None, NOW)
    # The old process (still running by mistake) neither beats nor stops the new one's row.
    assert repo.heartbeat("desk-1", "x", NOW, host="vm", pid=1000) == "taken"
    assert repo.stopped("desk-1", NOW, host="vm", pid=1000) is False
    assert repo.nodes(NOW, heartbeat=10)[0].state == "alive"
    assert repo.heartbeat("nobody", "x", NOW, host="vm", pid=1) == "missing"
    engine.dispose()


def test_register_forgets_rows_dead_for_a_week(database_url: str) -> None:
    engine = make_engine(database_url)
    repo = Repository(engine)
    old = NOW - FORGET_AFTER - timedelta(minutes=1)
    repo.register(identity("crashed-long-ago"), old)
    repo.register(identity("stopped-long-ago", pid=2), old)
    repo.stopped("stopped-long-ago", old, host="vm", pid=2)
    repo.register(identity("crashed-yesterday", pid=3), NOW - timedelta(days=1))
    repo.register(identity("new", pid=4), NOW)
    assert [n.name for n in repo.nodes(NOW, heartbeat=10)] == ["new", "crashed-yesterday"]
    engine.dispose()


def _service_like(repo: Repository, node: NodeIdentity, clock: Callable[[], datetime]) -> Any:
    """What Membership reads of a Service: its repository, node, clock and settings."""
    return SimpleNamespace(repo=repo, node=node, clock=clock, settings=SimpleNamespace(cluster=SimpleNamespace(heartbeat=10.0)))


def test_a_failing_heartbeat_is_logged_once_and_the_next_one_registers(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A PostgreSQL that is not there: port 9 on loopback refuses connections.
    dead = Repository(create_engine("postgresql+psycopg://monitor@127.0.0.1:9/none", connect_args={"connect_timeout": 1}))
    service = _service_like(dead, identity("n1"), lambda: NOW)
    membership = Membership(service)
    with caplog.at_level(logging.DEBUG, logger="monitor.membership"):
        assert membership.register() is False
        membership.beat()
        membership.beat()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "node n1: register failed (" in warnings[0].getMessage()
    assert "trying again every 10s" in warnings[0].getMessage()

    engine = make_engine(database_url)
    service.repo = Repository(engine)  # the database is back
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="monitor.membership"):
        membership.beat()  # no row yet: the heartbeat registers the node
    assert [n.name for n in service.repo.nodes(NOW, heartbeat=10)] == ["n1"]
    assert "the database answers again" in caplog.text
    membership.stopped()
    assert service.repo.nodes(NOW, heartbeat=10)[0].state == "stopped"
    engine.dispose()


# --- monitor status --------------------------------------------------------------------------


def test_status_lists_nodes_their_feeds_and_warns_on_a_rolling_config_change(
    database_url: str, write_config: Callable[..., Path]
) -> None:
    config = write_config({"cluster": {"heartbeat": "10s"}})
    engine = make_engine(database_url)
    repo = Repository(engine)
    now = utcnow()
    repo.register(identity("vm-a:11", config="aaaa000000000000", pid=11), now)
    repo.register(identity("vm-b:22", config="bbbb000000000000", pid=22, host="vm-b"), now)
    repo.register(identity("vm-c:33", config="aaaa000000000000", pid=33, host="vm-c"), now - timedelta(minutes=2))
    add_feeds(engine, {"Reforma": ("vm-a:11", now + timedelta(minutes=5)), "Wire": ("vm-a:11", now + timedelta(minutes=5)),
                       "Old lease": ("vm-c:33", now - timedelta(minutes=1))})
    engine.dispose()

    result = run_cli("status", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (
        "warning: a rolling config change is in progress: 2 config versions among 2 alive nodes"
    )
    data = json.loads(result.stdout)
    assert data["warning"] == "a rolling config change is in progress: 2 config versions among 2 alive nodes"
    assert (data["alive"], data["config_versions"]) == (2, 2)
    assert [(n["name"], n["state"], n["host"], n["pid"], n["config_hash"], n["feeds_leased"]) for n in data["nodes"]] == [
        ("vm-a:11", "alive", "vm", 11, "aaaa000000000000", 2),
        ("vm-b:22", "alive", "vm-b", 22, "bbbb000000000000", 0),
        ("vm-c:33", "stale", "vm-c", 33, "aaaa000000000000", 0),
    ]
    assert data["nodes"][2]["heartbeat_age_seconds"] >= 120 and "feeds" not in data["nodes"][0]

    result = run_cli("status", "--config", str(config), "--feeds")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["node", "state", "host", "pid", "version", "config", "started", "heartbeat", "feeds"]
    assert lines[1].split()[:6] == ["vm-a:11", "alive", "vm", "11", "0.1.0", "aaaa000000000000"]
    assert lines[1].split()[-1] == "2" and lines[3].split()[-3:] == ["2m", "ago", "0"]
    assert "\nvm-a:11 holds 2 feeds:\n  Reforma\n  Wire\n" in result.stdout
    assert "rolling config change" in result.stderr


def test_status_help_and_an_empty_database(tmp_path: Path) -> None:
    result = run_cli("status", "--help")
    assert result.returncode == 0 and "--feeds" in result.stdout and "stale" in result.stdout
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": f"sqlite:///{tmp_path}/m.db"}))
    result = run_cli("status", "--config", str(config))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("no daemon has registered with this database yet")


# --- SQLite: one daemon --------------------------------------------------------------------------


def test_lock_path_only_for_sqlite_files(tmp_path: Path) -> None:
    assert lock_path("sqlite:///data/monitor.db") == Path("data/monitor.db.lock")
    assert lock_path(f"sqlite:///{tmp_path}/m.db") == tmp_path / "m.db.lock"
    assert lock_path("sqlite:///file:data/m.db?mode=rwc&uri=true") == Path("data/m.db.lock")
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:mem?mode=memory&cache=shared&uri=true",
                "postgresql+psycopg://u@127.0.0.1/db"):
        assert lock_path(url) is None
        with lock_database(url, "x", NOW) as lock:  # no lock: any number may hold "it"
            assert lock.fd is None and lock_database(url, "y", NOW).fd is None


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sub/m.db"
    with lock_database(url, "first", NOW):
        with pytest.raises(DatabaseInUse) as refused:
            lock_database(url, "second", NOW)
        assert str(refused.value) == (
            f"database {tmp_path}/sub/m.db is in use by another monitor daemon "
            f"(node first, pid {os.getpid()} on {socket.gethostname()}, running since 2026-12-04 15:00 UTC); "
            "SQLite serves one daemon — stop it first, or use PostgreSQL to run several"
        )
    with lock_database(url, "second", NOW):
        pass


@contextmanager
def daemon(config: Path, cwd: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_a_second_daemon_on_one_sqlite_file_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": "sqlite:///data/monitor.db", "cluster": {"heartbeat": "1s"}}))
    settings = load_config(config)
    engine = make_engine(f"sqlite:///{tmp_path}/data/monitor.db")
    repo = Repository(engine)

    def alive(pid: int) -> bool:
        return any(n.pid == pid and n.state == "alive" for n in repo.nodes(utcnow(), settings.cluster.heartbeat))

    with daemon(config, tmp_path) as first:
        wait_for(lambda: alive(first.pid), timeout=30, message="the first daemon to register")
        started = repo.nodes(utcnow(), 1)[0].heartbeat_at
        wait_for(lambda: repo.nodes(utcnow(), 1)[0].heartbeat_at > started, timeout=10, message="a heartbeat")

        for command in (["run"], ["poll", "--once"]):
            second = run_cli(*command, "--config", str(config), cwd=tmp_path)
            assert second.returncode == 2, second.stderr
            host = socket.gethostname()
            assert second.stderr.startswith(
                f"error: database data/monitor.db is in use by another monitor daemon "
                f"(node {host}:{first.pid}, pid {first.pid} on {host}, running since "
            ), second.stderr
            assert second.stderr.rstrip().endswith(
                "SQLite serves one daemon — stop it first, or use PostgreSQL to run several"
            )
            assert "Traceback" not in second.stderr
        # Readers are not blocked.
        status = run_cli("status", "--config", str(config), cwd=tmp_path)
        assert status.returncode == 0 and f"{host}:{first.pid}" in status.stdout

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    # The kernel dropped the dead daemon's lock: a new one starts, and stops cleanly.
    with daemon(config, tmp_path) as third:
        wait_for(lambda: alive(third.pid) or third.poll() is not None, timeout=30, message="the new daemon")
        assert third.poll() is None
        third.send_signal(signal.SIGTERM)
        _, err = third.communicate(timeout=30)
        assert third.returncode == 0, err
    states = {n.pid: n.state for n in repo.nodes(utcnow(), 1)}
    assert states[third.pid] == "stopped"
    assert states[first.pid] in ("alive", "stale")  # killed: no clean stop, its row goes stale
    engine.dispose()


# --- the web: /healthz, /metrics, /nodes ---------------------------------------------------------


@contextmanager
def web(settings: Settings, engine: Any, node: str | None) -> Iterator[httpx.Client]:
    server = make_server(settings, engine=engine, listen="127.0.0.1:0", node=node)
    server.config.app.state.web.clock = lambda: NOW  # type: ignore[union-attr]
    thread = WebThread(server).start()
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        thread.stop()


def test_healthz_metrics_and_the_nodes_page_name_the_nodes(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings({"cluster": {"heartbeat": "10s"}})
    engine = make_engine(settings.database)
    repo = Repository(engine)
    evil = "<script>alert('node')</script>"
    repo.register(identity("desk-1", config="aaaa"), NOW)
    repo.register(identity(evil, config="bbbb", pid=2, host="<b>host</b>"), NOW)
    repo.register(identity("gone", pid=3), NOW - timedelta(minutes=10))
    add_feeds(engine, {f"feed {i}": ("desk-1", NOW + timedelta(minutes=1)) for i in range(3)}
              | {"past": ("desk-1", NOW - timedelta(seconds=1)), "theirs": (evil, NOW + timedelta(minutes=1))})

    with web(settings, engine, "desk-1") as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["node"] == "desk-1"

        metrics = client.get("/metrics").text
        assert "\nmonitor_leases_held 3.0\n" in metrics  # this node's unexpired leases, read at scrape time
        assert "# TYPE monitor_leases_taken_over_total counter" in metrics
        assert "\nmonitor_leases_taken_over_total " in metrics

        page = client.get("/nodes")
        assert page.status_code == 200
        html = page.text
        assert evil not in html and "<b>host</b>" not in html
        assert "&lt;script&gt;alert(&#39;node&#39;)&lt;/script&gt;" in html and "&lt;b&gt;host&lt;/b&gt;" in html
        assert "a rolling config change is in progress: 2 config versions among 2 alive nodes" in html
        assert 'href="/nodes" aria-current="page"' in html
        rows = html.split("<tbody>")[1].split("<tr>")[1:]  # alive by name ("<" sorts first), then stale
        assert "&lt;script&gt;" in rows[0] and "state-alive" in rows[0] and ">1</td>" in rows[0]
        assert "desk-1" in rows[1] and "(this one)" in rows[1] and ">3</td>" in rows[1]
        assert "gone" in rows[2] and "state-stale" in rows[2] and ">0</td>" in rows[2]
        assert 'href="/nodes"' in client.get("/hits").text  # in the nav of every page

    # `monitor serve` alone: named by its own identity.
    with web(settings, engine, None) as client:
        assert client.get("/healthz").json()["node"] == f"serve {socket.gethostname()}:{os.getpid()}"
        assert "\nmonitor_leases_held 0.0\n" in client.get("/metrics").text
    named = settings.model_copy(update={"cluster": settings.cluster.model_copy(update={"node_name": "dash"})})
    with web(named, engine, None) as client:
        assert client.get("/healthz").json()["node"] == "dash"
    engine.dispose()


def test_the_daemon_registers_serves_its_name_and_stops(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    import threading

    from monitor.scheduler import run_daemon
    from monitor.service import Service

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings({"cluster": {"node_name": "desk-7", "heartbeat": "1s"},
                              "web": {"enabled": True, "listen": f"127.0.0.1:{port}"}})
    service = Service(settings, echo=lambda _line: None)
    stop = threading.Event()
    thread = threading.Thread(target=run_daemon, args=(service, stop), daemon=True)
    thread.start()
    try:
        def registered() -> list[Any]:
            return [n for n in service.repo.nodes(utcnow(), 1) if n.name == "desk-7" and n.state == "alive"]

        (node,) = wait_for(registered, timeout=20, message="desk-7 to register")
        assert node.web_url == f"http://127.0.0.1:{port}/" and node.pid == os.getpid()
        wait_for(lambda: service.repo.nodes(utcnow(), 1)[0].heartbeat_at > node.heartbeat_at, timeout=10,
                 message="a heartbeat")
        body = wait_for(lambda: _healthz(port), timeout=20, message="/healthz")
        assert body["node"] == "desk-7"
    finally:
        stop.set()
        thread.join(timeout=30)
        service.close()
    assert not thread.is_alive()
    (node,) = service.repo.nodes(utcnow(), 1)
    assert node.state == "stopped" and node.stopped_at is not None
    service.repo.engine.dispose()


def _healthz(port: int) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def test_node_row_columns_are_what_register_writes(database_url: str) -> None:
    """A register over an existing row rewrites every column (no stale web_url or stop time)."""
    engine = make_engine(database_url)
    repo = Repository(engine)
    repo.register(identity("n", config="old"), NOW - timedelta(hours=1), "http://old/")
    with engine.begin() as conn:
        conn.execute(update(NodeRow).values(stopped_at=NOW - timedelta(minutes=1)))
    repo.register(identity("n", config="new", pid=5, host="h2", started=NOW), NOW)
    (node,) = repo.nodes(NOW, 10)
    assert (node.config_hash, node.pid, node.host, node.web_url, node.stopped_at, node.heartbeat_at) == (
        "new", 5, "h2", None, None, NOW)
    engine.dispose()
