"""Who reaches the web app: Host names (DNS rebinding), token length, sessions, sign-in throttling,
and the last-resort 500. The real app under uvicorn on loopback, as in test_web."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from monitor.cli.main import main
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.store.engine import make_engine
from monitor.web.app import SECURITY_HEADERS
from monitor.web.server import WebThread, make_server
from tests.integration.test_web import NOW, TOKEN, config, running, seed, serving


def _csrf(client: httpx.Client, path: str = "/login") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


def _with_headers(response: httpx.Response) -> bool:
    return all(response.headers.get(name) == value for name, value in SECURITY_HEADERS.items())


# --- Host header --------------------------------------------------------------------------


def test_only_this_servers_names_are_answered(database_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    ids = seed(engine, articles=5)
    with serving(settings, engine) as client:
        port = client.base_url.port
        csrf = _csrf(client, "/watchlists")
        # A page of attacker.example whose name now resolves to 127.0.0.1 (DNS rebinding).
        for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}",
                     f"localhost.attacker.example:{port}", "[::2]", "localhost:http", "localhost:99999999"):
            refused = client.get("/api/hits", headers={"host": host})
            assert refused.status_code == 400, host
            assert "is not a name of this server" in refused.text and "items" not in refused.text
            assert _with_headers(refused)
        assert client.get("/healthz", headers={"host": "attacker.example"}).status_code == 400
        assert client.get("/watchlists", headers={"host": "attacker.example"}).status_code == 400
        posted = client.post(f"/deliveries/{ids['failed_delivery']}/retry", data={"csrf": csrf},
                             headers={"host": "attacker.example"})
        assert posted.status_code == 400
        assert client.get("/api/deliveries", params={"status": "failed"}).json()["items"]  # nothing re-queued
        # Loopback names, with any port (an SSH tunnel's, a proxy's) or none; case and a final dot do not matter.
        for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LocalHost:9000", "localhost.", f"[::1]:{port}",
                     "[::1]"):
            assert client.get("/api/hits", headers={"host": host}).status_code == 200, host
        assert client.get("/healthz").status_code == 200
    engine.dispose()


def test_allowed_hosts_and_the_listen_host_are_answered(database_url: str, make_settings: Callable[..., Settings],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings({**{k: v for k, v in config(database_url).items() if k != "database"},
                              "web": {"allowed_hosts": ["Monitor.Example.org", "192.0.2.7", "2001:db8::7"]}})
    assert settings.web.allowed_hosts == ("monitor.example.org", "192.0.2.7", "[2001:db8::7]")
    engine = make_engine(settings.database)
    seed(engine, articles=5)
    # A loopback address that is none of the usual names.
    server = make_server(settings, engine=engine, listen="127.0.0.5:0")
    web = WebThread(server).start()
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.5:{port}", timeout=10) as client:
            assert client.get("/api/hits").status_code == 200  # Host: 127.0.0.5:PORT, the listen host
            for host in ("monitor.example.org", "monitor.example.org:8443", "MONITOR.EXAMPLE.ORG.", "192.0.2.7:80",
                         "[2001:db8:0::7]:443"):
                assert client.get("/api/hits", headers={"host": host}).status_code == 200, host
            for host in ("evil.monitor.example.org", "monitor.example.org.evil", "192.0.2.8", "[2001:db8::8]"):
                assert client.get("/api/hits", headers={"host": host}).status_code == 400, host
    finally:
        web.stop()
        engine.dispose()
    path = Path(settings.source)
    path.write_text(path.read_text().replace("192.0.2.7", "https://monitor.example.org:8443/"))
    assert main(["check", "--config", str(path)]) == 2
    assert "web.allowed_hosts[1]: 'https://monitor.example.org:8443/' is not a host name" in capsys.readouterr().err


# --- tokens and sessions ------------------------------------------------------------------


def test_a_short_token_is_refused(make_settings: Callable[..., Settings], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings({"feeds": [], "watchlists": []})
    path = Path(settings.source)
    path.write_text(path.read_text() + "web:\n  listen: 0.0.0.0:8080\n  token: fifteen-chars-x\n")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "web.token: must be at least 16 characters" in err and "fifteen-chars-x" not in err
    short = Settings.model_validate({"web": {"token": "fifteen-chars-x"}})
    with pytest.raises(ConfigError, match=r"web\.token: must be at least 16 characters"):
        make_server(short, listen="127.0.0.1:0")
    path.write_text(path.read_text().replace("fifteen-chars-x", "sixteen-chars-xx"))
    assert main(["check", "--config", str(path)]) == 0


def _token_settings(database_url: str, make_settings: Callable[..., Settings], **web: Any) -> Settings:
    data = config(database_url, token=TOKEN, **web)
    return make_settings({k: v for k, v in data.items() if k != "database"})


def _sign_in(client: httpx.Client) -> httpx.Response:
    response = client.post("/login", data={"token": TOKEN, "csrf": _csrf(client)})
    assert response.status_code == 303
    return response


def test_sessions_are_random_expire_and_end_at_logout(database_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = _token_settings(database_url, make_settings, session_lifetime="1h")
    engine = make_engine(settings.database)
    seed(engine, articles=5)
    clock = {"now": NOW}
    with (
        running(settings, engine, clock=lambda: clock["now"]) as base,
        httpx.Client(base_url=base) as first,
        httpx.Client(base_url=base) as second,
    ):
        signed_in = _sign_in(first)
        assert "max-age=3600" in signed_in.headers["set-cookie"].lower()
        _sign_in(second)
        a, b = first.cookies["monitor_session"], second.cookies["monitor_session"]
        assert a != b and len(a) >= 40 and TOKEN not in a  # random, not derived from the token
        assert first.get("/api/hits").status_code == 200 and second.get("/api/hits").status_code == 200
        # Logout ends the session on the server: the cookie, kept by a thief, is refused.
        out = first.post("/logout", data={"csrf": first.cookies["monitor_csrf"]})
        assert out.status_code == 303
        assert httpx.get(base + "/api/hits", headers={"cookie": f"monitor_session={a}"}).status_code == 401
        assert second.get("/api/hits").status_code == 200  # other sessions live on
        # One hour after signing in (absolute, however busy the session was), it has expired.
        clock["now"] = NOW + timedelta(minutes=59)
        assert second.get("/api/hits").status_code == 200
        clock["now"] = NOW + timedelta(hours=1, seconds=1)
        assert second.get("/api/hits").status_code == 401
        page = second.get("/hits")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        fresh = _sign_in(second)
        assert second.get("/api/hits").status_code == 200 and fresh.headers["location"] == "/hits"
        kept = second.cookies["monitor_session"]
    # A restart forgets every session: everyone signs in again.
    with running(settings, engine, clock=lambda: clock["now"]) as base:
        assert httpx.get(base + "/api/hits", headers={"cookie": f"monitor_session={kept}"}).status_code == 401
    engine.dispose()


def test_failed_sign_ins_and_wrong_bearer_tokens_are_throttled_per_client(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = _token_settings(database_url, make_settings)
    engine = make_engine(settings.database)
    seed(engine, articles=5)
    clock = {"now": NOW}
    with running(settings, engine, clock=lambda: clock["now"]) as base, httpx.Client(base_url=base) as client:
        csrf = _csrf(client)
        for _ in range(4):
            assert client.post("/login", data={"token": "a-wrong-guess-of-it", "csrf": csrf}).status_code == 401
        fifth = client.post("/login", data={"token": "a-wrong-guess-of-it", "csrf": csrf})
        assert fifth.status_code == 401 and "That token is not right." in fifth.text
        # Locked out for a second: even the right token is not looked at.
        locked = client.post("/login", data={"token": TOKEN, "csrf": csrf})
        assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
        assert "Too many failed sign-ins from your address: try again in 1 s." in locked.text and _with_headers(locked)
        # Another client (another loopback address) is not held up by this one.
        with httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
            assert other.post("/login", data={"token": TOKEN, "csrf": _csrf(other)}).status_code == 303
        clock["now"] += timedelta(seconds=1)
        # Each further failure doubles the wait: 2 s, then 4 s.
        assert client.post("/login", data={"token": "a-wrong-guess-of-it", "csrf": csrf}).status_code == 401
        assert client.post("/login", data={"token": TOKEN, "csrf": csrf}).headers["retry-after"] == "2"
        clock["now"] += timedelta(seconds=2)
        assert client.post("/login", data={"token": "a-wrong-guess-of-it", "csrf": csrf}).status_code == 401
        assert client.post("/login", data={"token": TOKEN, "csrf": csrf}).headers["retry-after"] == "4"
        clock["now"] += timedelta(seconds=4)
        assert client.post("/login", data={"token": TOKEN, "csrf": csrf}).status_code == 303  # and the count ends
        # Wrong bearer tokens count the same way.
        client.cookies.clear()
        for _ in range(5):
            wrong = client.get("/api/hits", headers={"authorization": "Bearer a-wrong-guess-of-it"})
            assert wrong.status_code == 401
        refused = client.get("/api/hits", headers={"authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1" and _with_headers(refused)
        assert "too many failed sign-ins" in refused.json()["error"]
        clock["now"] += timedelta(seconds=1)
        assert client.get("/api/hits", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        # Requests with no token at all are not failures: a browser before signing in is never locked out.
        for _ in range(10):
            assert client.get("/api/hits").status_code == 401
        assert client.get("/api/hits", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    engine.dispose()


def test_sign_in_goes_back_only_to_a_path_of_this_server(database_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = _token_settings(database_url, make_settings)
    engine = make_engine(settings.database)
    with running(settings, engine) as base, httpx.Client(base_url=base) as client:
        for target, expected in (("/feeds?sort=name", "/feeds?sort=name"), ("//evil.example/", "/hits"),
                                 ("/\\evil.example/", "/hits"), ("https://evil.example/", "/hits")):
            response = client.post("/login", params={"next": target}, data={"token": TOKEN, "csrf": _csrf(client)})
            assert response.status_code == 303 and response.headers["location"] == expected, target
    engine.dispose()


# --- errors -------------------------------------------------------------------------------


def test_an_unexpected_error_is_a_plain_500_with_the_headers_and_a_logged_traceback(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings({"feeds": [], "watchlists": []})
    # A PostgreSQL that is not there: every read fails with an error no handler expects.
    dead = create_engine("postgresql+psycopg://monitor@127.0.0.1:9/none", connect_args={"connect_timeout": 1})
    with (
        running(settings, dead) as base,
        httpx.Client(base_url=base, timeout=10) as client,
        caplog.at_level(logging.ERROR, logger="monitor.web.app"),
    ):
        response = client.get("/api/hits")
    assert response.status_code == 500 and _with_headers(response)
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Internal server error: the details are in the server's log.\n"
    assert "127.0.0.1:9" not in response.text
    failed = [r for r in caplog.records if r.getMessage() == "web: GET /api/hits failed"]
    assert failed and failed[0].exc_info is not None and "OperationalError" in failed[0].exc_info[0].__name__
