"""`--log-format text|json` through the real entry point, and secrets kept out of both."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from monitor.cli.logs import JsonFormatter, leading_pairs
from tests.integration.test_cli_and_daemon import FIXTURE, run_cli

SECRET = "s3cretPassw0rd"


def _config(tmp_path: Path, feed_url: str, hook_port: int) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": f"sqlite:///{tmp_path}/m.db",
                "poll": {"timeout": "3s", "connect_timeout": "1s"},
                "feeds": [
                    {"name": "Fixture feed", "url": feed_url},
                    {"name": "Gone", "url": feed_url.replace("/feed.xml", "/missing.xml")},
                ],
                "channels": {"hook": {"urls": [f"json://editor:{SECRET}@127.0.0.1:{hook_port}/hook"]}},
                "watchlists": [{"name": "cartels", "keywords": ["cartel", "cárteles"], "channels": ["hook"]}],
            }
        )
    )
    return config


def test_json_logs_carry_context_and_no_secret(tmp_path, feed_server, webhook_server) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    webhook_server.fail_next(1000, status=500)  # every send fails
    config = _config(tmp_path, url, webhook_server.port)
    result = run_cli("poll", "--once", "--log-format", "json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stderr and SECRET not in result.stdout
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines, "no log lines"
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= line.keys()
        assert line["ts"].endswith("Z")
        if "feed=" in line["message"]:
            assert line["feed"] in ("Fixture feed", "Gone"), line
        if "channel=" in line["message"]:
            assert line["channel"] == "hook", line
        if "watchlist=" in line["message"]:
            assert line["watchlist"] == "cartels", line
    ok = [line for line in lines if line.get("feed") == "Fixture feed" and line.get("status") == "ok"]
    assert len(ok) == 1 and ok[0]["new"] > 0 and ok[0]["level"] == "info"
    assert any(line.get("feed") == "Gone" and line["level"] == "warning" for line in lines)
    failed = [line for line in lines if line.get("channel") == "hook" and "failed" in line["message"]]
    assert failed and all(line["level"] in ("warning", "error") for line in failed)
    assert any("500" in line["message"] for line in failed)


def test_text_logs_of_a_failing_send_hide_the_secret(tmp_path, feed_server, webhook_server) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    webhook_server.fail_next(1000, status=500)
    config = _config(tmp_path, url, webhook_server.port)
    result = run_cli("poll", "--once", "--log-level", "debug", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "channel='hook'" in result.stderr and "failed" in result.stderr
    assert SECRET not in result.stderr and SECRET not in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stderr.splitlines()[0])


def test_leading_pairs_read_only_the_start_of_a_message() -> None:
    message = "feed='El \\'Diario\\'' status=ok entries=12 new=3 next_in=5m title: x=1 channel='evil'"
    assert leading_pairs(message) == {
        "feed": "El 'Diario'",
        "status": "ok",
        "entries": 12,
        "new": 3,
        "next_in": "5m",
    }
    assert leading_pairs("plain message feed='x'") == {}


def test_json_formatter_adds_extra_fields_and_tracebacks() -> None:
    record = logging.LogRecord("monitor.poller", logging.ERROR, __file__, 1, "feed=%r broke", ("A",), None)
    record.watchlist = "cartels"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["feed"] == "A" and line["watchlist"] == "cartels"
    assert line["level"] == "error" and line["logger"] == "monitor.poller" and line["message"] == "feed='A' broke"
    assert "RuntimeError: boom" in line["exc"]
    assert "\n" not in JsonFormatter().format(record)


def test_log_format_is_in_the_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "--log-format" in result.stdout
