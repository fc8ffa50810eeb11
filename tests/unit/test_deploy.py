"""deploy/docker-compose.yml, checked without a Docker engine: its structure
(PostgreSQL with a volume and a healthcheck, three `monitor run` replicas
built from the repository's Dockerfile, waiting for a healthy database,
restarted unless stopped, given time to drain), and the config they share
validated with each replica's environment, to one config hash."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import Settings, parse_config
from monitor.node import config_hash

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPLICAS = ["monitor-1", "monitor-2", "monitor-3"]
# What an operator exports before `docker compose up` (see the file's header).
SHELL = {"POSTGRES_PASSWORD": "s3cret-pass", "MONITOR_WEB_TOKEN": "a-token-of-24-characters"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the forms the file uses)."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3) or ""
        if shell.get(name):
            return shell[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse to start: {rest}")
        return rest if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def environment(service: dict[str, Any], shell: dict[str, str] = SHELL) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {key: interpolate(str(value), shell) for key, value in env.items()}


def replica_settings(service: dict[str, Any]) -> Settings:
    env = environment(service)
    (mount,) = service["volumes"]
    source, target, mode = mount.split(":")
    assert (target, mode) == ("/etc/monitor", "ro") and env["MONITOR_CONFIG"] == "/etc/monitor/config.yaml"
    config = DEPLOY / source / "config.yaml"
    return parse_config(config.read_text(encoding="utf-8"), source=str(config), environ=env)


def test_postgres_has_a_volume_and_a_healthcheck(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    (volume,) = postgres["volumes"]
    name, path = volume.split(":")
    assert path == "/var/lib/postgresql/data" and name in compose["volumes"]
    check = postgres["healthcheck"]
    assert check["test"][0] == "CMD-SHELL" and "pg_isready" in check["test"][1]
    assert {"interval", "timeout", "retries"} <= set(check)
    assert postgres["restart"] == "unless-stopped"
    env = environment(postgres)
    assert env["POSTGRES_PASSWORD"] == SHELL["POSTGRES_PASSWORD"]
    with pytest.raises(AssertionError, match="set POSTGRES_PASSWORD"):
        environment(postgres, shell={})


def test_three_replicas_built_from_the_dockerfile_wait_for_a_healthy_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert sorted(services) == sorted(["postgres", *REPLICAS])
    for name in REPLICAS:
        service = services[name]
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
        assert "command" not in service  # the image's `monitor run`
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert service["restart"] == "unless-stopped"
        seconds = int(service["stop_grace_period"].removesuffix("s"))
        assert seconds >= 30  # a fetch deadline (40 s by default) to drain
        env = environment(service)
        assert env["MONITOR_DATABASE"] == "postgresql+psycopg://monitor:s3cret-pass@postgres:5432/monitor"
        assert env["MONITOR_NODE_NAME"] == name


def test_one_replica_serves_the_dashboard_and_they_share_one_config(compose: dict[str, Any]) -> None:
    services = compose["services"]
    settings = {name: replica_settings(services[name]) for name in REPLICAS}
    public = [name for name, s in settings.items() if s.web.host == "0.0.0.0"]
    assert public == ["monitor-1"] and services["monitor-1"]["ports"] == ["8080:8080"]
    for name, s in settings.items():
        assert s.database.startswith("postgresql+psycopg://") and s.cluster.node_name == name
        # Every replica answers its image's HEALTHCHECK (`monitor healthcheck` asks /healthz
        # on loopback); only monitor-1 listens beyond its container, with a token.
        assert s.web.enabled and s.web.port == 8080
        assert s.web.token is not None and len(s.web.token) >= 16
        if name != "monitor-1":
            assert s.web.host == "127.0.0.1" and "ports" not in services[name]
    # One config file: one hash, so `monitor status` warns of no rolling change.
    assert len({config_hash(s) for s in settings.values()}) == 1
