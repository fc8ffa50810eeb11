"""The real entry points in subprocesses: `monitor check`, `monitor poll --once`
and the `monitor run` daemon, which must stop cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.servers import wait_for

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = (DATA / "us-mexico-security.xml").read_bytes()
ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        cwd=cwd or ROOT,
    )


def test_check_prints_a_summary_with_secrets_hidden(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": f"sqlite:///{tmp_path}/m.db",
                "feeds": [{"name": "A", "url": "https://a.example/rss", "tags": ["mexico"]}],
                "channels": {
                    "team-email": {"urls": ["mailtos://desk:${SMTP_PASS}@smtp.example.org?to=desk@example.org"]},
                    "team-slack": {"urls": ["https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"]},
                },
                "watchlists": [{"name": "cartels", "keywords": ["cartel"], "channels": ["team-email", "team-slack"]}],
            }
        )
    )
    result = run_cli("check", "--config", str(config), env={"SMTP_PASS": "hunter2secret"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "feeds (1):" in out and "A — https://a.example/rss" in out
    assert "cartels: 1 keywords → team-email, team-slack" in out
    assert "team-email: mailtos://desk:****@smtp.example.org" in out
    assert "team-slack: slack://" in out
    assert "hunter2secret" not in out + result.stderr
    assert "TIiajkdnlazkcOXrIdevi7" not in out + result.stderr
    quiet = run_cli("check", "--quiet", "--config", str(config), env={"SMTP_PASS": "x"})
    assert (quiet.returncode, quiet.stdout) == (0, "")


def test_bad_config_exits_non_zero_with_one_line_per_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        """
poll: {interval: 15 minutes}
feeds:
  - {name: A, url: "ftp://a.example/rss"}
channels:
  team-slack: {urls: ["${SLACK_WEBHOOK_URL}"]}
watchlists:
  - {name: w, keywords: [cartel], channels: [team-slak]}
"""
    )
    for command in (["check"], ["run"], ["poll", "--once"]):
        result = run_cli(*command, "--config", str(config), env={"SLACK_WEBHOOK_URL": ""})
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [
            f"{config}: invalid configuration (4 problems):",
            "  channels.team-slack.urls[0]: environment variable SLACK_WEBHOOK_URL is not set",
            "  poll.interval: '15 minutes' is not a duration (use e.g. 90s, 15m, 2h, 1d)",
            "  feeds[0].url: 'ftp://a.example/rss' is not an http(s) URL",
            "  watchlists[0].channels[0]: unknown channel 'team-slak' (known: team-slack)",
        ]
    assert not (tmp_path / "data").exists()


def test_config_found_through_environment_then_working_directory(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("poll: {interval: 2h}\n")
    result = run_cli("check", cwd=tmp_path, env={"MONITOR_CONFIG": ""})
    assert result.returncode == 0 and "every 2h" in result.stdout
    other = tmp_path / "other.yaml"
    other.write_text("poll: {interval: 3h}\n")
    result = run_cli("check", cwd=tmp_path, env={"MONITOR_CONFIG": str(other)})
    assert result.returncode == 0 and "every 3h" in result.stdout


def test_every_command_has_help() -> None:
    for command in ("check", "run", "poll", "hits", "feeds"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "--config" in result.stdout


def _daemon_config(tmp_path: Path, feed_url: str, hook_port: int) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": f"sqlite:///{tmp_path}/m.db",
                "poll": {"interval": "1h", "timeout": "3s", "connect_timeout": "1s"},
                "feeds": [{"name": "Fixture", "url": feed_url}],
                "channels": {"hook": {"urls": [f"json://127.0.0.1:{hook_port}/hook"]}},
                "watchlists": [{"name": "cartels", "keywords": ["cartel", "cárteles"], "channels": ["hook"]}],
            }
        )
    )
    return config


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_daemon_polls_alerts_and_stops_cleanly_on_signal(tmp_path, feed_server, webhook_server, sig) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    hung = feed_server.hang("/hung.xml", 60)
    config = _daemon_config(tmp_path, url, webhook_server.port)
    data = yaml.safe_load(config.read_text())
    data["feeds"].append({"name": "Hung", "url": hung})
    data["poll"]["timeout"] = "30s"
    config.write_text(yaml.safe_dump(data))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        # The hung feed is still being fetched when the good one's alerts are out.
        wait_for(lambda: len(webhook_server.posts_to("/hook")) == 3, timeout=20)
        started = time.monotonic()
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=15)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert stopped_in < 5, err
    assert "monitor stopped" in err
    assert "feed='Fixture' status=ok entries=4 new=4 copies=0 updated=0 hits=3" in err
    assert len(webhook_server.posts_to("/hook")) == 3

    # Restarted: the same database, nothing new, nothing sent again.
    feed_server.set_status("/hung.xml", 404)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "poll", "--once", "--config", str(config)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "new articles=0, hits=0, alerts sent=0" in result.stderr
    assert len(webhook_server.posts_to("/hook")) == 3


def test_check_reports_a_broken_user_template_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "desk.html.j2").write_text("<p>{{ hit.title }}</p>\n<p>{{ hit.tittle }}</p>\n{% if %}\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": f"sqlite:///{tmp_path}/m.db",
                "channels": {"desk": {"urls": ["json://127.0.0.1:9/x"], "template": "desk.html.j2"}},
            }
        )
    )
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert "  channels.desk.template: line 3: " in result.stderr
    (tmp_path / "desk.html.j2").write_text("<p>{{ hit.title }}</p>\n<p>{{ hit.tittle }}</p>\n")
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert "  channels.desk.template: line 2: 'hit' has no attribute 'tittle'" in result.stderr
