"""`monitor healthcheck` (the Dockerfile's HEALTHCHECK) against a real `monitor run`."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from monitor.cli import main
from tests.integration.test_daemon_delivery import start, stop
from tests.integration.test_stories import rss


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write(tmp_path: Path, web: dict, feed_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database": f"sqlite:///{tmp_path}/m.db",
                "web": web,
                "feeds": [{"name": "F", "url": feed_url}],
                "watchlists": [{"name": "w", "keywords": ["cartel"]}],
            }
        )
    )
    return path


def test_healthy_daemon_then_gone(tmp_path, feed_server, wait_for, capsys) -> None:
    url = feed_server.add("/f.xml", rss([]))
    # Any-address bind with a token: the check asks on loopback, /healthz needs no token.
    port = free_port()
    path = write(tmp_path, {"enabled": True, "listen": f"0.0.0.0:{port}", "token": "s3cret-token-for-healthcheck"}, url)
    proc = start(path, tmp_path)
    try:
        wait_for(lambda: main(["healthcheck", "--timeout", "2", "--config", str(path)]) == 0, timeout=60)
        assert f"healthy: http://127.0.0.1:{port}/healthz" in capsys.readouterr().out
    finally:
        stop(proc)
    assert main(["healthcheck", "--timeout", "2", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("unhealthy: ") and "s3cret-token" not in out


def test_without_the_web_server_there_is_nothing_to_ask(tmp_path, feed_server, capsys) -> None:
    path = write(tmp_path, {"enabled": False}, feed_server.add("/f.xml", rss([])))
    assert main(["healthcheck", "--config", str(path)]) == 2
    assert "web.enabled is false" in capsys.readouterr().out
