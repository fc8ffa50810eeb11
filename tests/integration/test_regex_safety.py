"""Regular expressions through the real entry points (issue 11.1): the
dashboard's "try it" takes only RE2 patterns and is rate-limited per client;
`monitor check` lists the patterns that run on the fallback engine;
`monitor test`, a trusted user on the command line, may use the fallback."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from monitor.cli.main import main
from monitor.config import Settings
from monitor.store.engine import make_engine
from monitor.web import app as app_module
from monitor.web.app import SECURITY_HEADERS, TRY_BURST
from tests.integration.test_web import config, seed, serving


def _csrf(client: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/watchlists").text).group(1)  # type: ignore[union-attr]


def test_try_it_runs_only_re2_patterns(database_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    seed(engine, articles=8)
    with serving(settings, engine) as client:
        csrf = _csrf(client)
        refused = client.post("/watchlists/try", data={"csrf": csrf, "query": r"cartel OR /(\w+) \1/"})
        assert refused.status_code == 400
        assert ("Query error: column 11: regular expression /(\\w+) \\1/ uses a backreference (\\1 or (?P=name)), "
                "which RE2 does not support") in refused.text
        lookahead = client.post("/watchlists/try", data={"csrf": csrf, "query": "/cartel(?= violence)/"})
        assert lookahead.status_code == 400 and "uses a look-ahead" in lookahead.text
        # The review's probe: linear on RE2, and it answers.
        probe = client.post("/watchlists/try", data={"csrf": csrf, "query": "/(.|.){1,16}QQZZ/"})
        assert probe.status_code == 200 and "0 of 8 articles match" in probe.text
        ok = client.post("/watchlists/try", data={"csrf": csrf, "query": r"/\bviolence report number \d\b/"})
        assert ok.status_code == 200 and "5 of 8 articles match" in ok.text
        # Matching costs occurrences x terms: a typed query's length is bounded.
        long = client.post("/watchlists/try", data={"csrf": csrf, "query": " AND ".join(["cartel"] * 100)})
        assert long.status_code == 400 and "the query is longer than 500 characters" in long.text
    engine.dispose()


def test_try_it_is_rate_limited_per_client(database_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    seed(engine, articles=8)
    with serving(settings, engine) as client:
        csrf = _csrf(client)
        # Forged posts (no CSRF token) are refused before they cost a try.
        for _ in range(3):
            assert client.post("/watchlists/try", data={"query": "cartel"}).status_code == 403
        for _ in range(TRY_BURST):
            assert client.post("/watchlists/try", data={"csrf": csrf, "query": "cartel"}).status_code == 200
        over = client.post("/watchlists/try", data={"csrf": csrf, "query": "cartel"})
        assert over.status_code == 429
        assert "Too many tries: at most 10 a minute from one address" in over.text
        assert 1 <= int(over.headers["retry-after"]) <= 6
        assert all(header in over.headers for header in SECURITY_HEADERS)
        assert client.get("/watchlists").status_code == 200  # only trying is limited
    engine.dispose()


def test_check_lists_the_patterns_on_the_fallback_engine(write_config: Callable[..., Path], capsys) -> None:
    path = write_config({
        "feeds": [{"name": "A", "url": "https://a.example/rss"}],
        "watchlists": [
            {"name": "plain", "keywords": ["cartel"]},
            {"name": "repeats", "query": r"cartel OR /\b(\w+) \1\b/"},
            {"name": "linear", "query": r"/\bCJNG-?\d+\b/"},
            {"name": "looks", "query": "/narco(?!tráfico)/ OR /(?<=El )Mencho/"},
        ],
    })
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "fallback engine" in line]
    assert lines == [
        "regular expressions on the fallback engine (3):",
        r"  watchlists[1].query: /\b(\w+) \1\b/ uses a backreference (\1 or (?P=name)), which RE2 does not "
        "support; it runs on the bounded fallback engine (timeout 0.1 s per field)",
        "  watchlists[3].query: /narco(?!tráfico)/ uses a negative look-ahead (?!…), which RE2 does not "
        "support; it runs on the bounded fallback engine (timeout 0.1 s per field)",
        "  watchlists[3].query: /(?<=El )Mencho/ uses a look-behind (?<=…), which RE2 does not "
        "support; it runs on the bounded fallback engine (timeout 0.1 s per field)",
    ]


def test_monitor_test_may_use_the_fallback_engine(capsys) -> None:
    assert main(["test", r"/\b(\w+) \1\b/", "--text", "it was the the end"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MATCH")
    assert main(["test", r"/(\w+)\1(a|a)+$/", "--title", "a" * 30 + "b", "--text", "x"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no match") and "ran out of time (0.1 s) on this article" in out


def test_try_it_stops_at_its_time_budget(database_url: str, make_settings: Callable[..., Settings], monkeypatch) -> None:
    monkeypatch.setattr(app_module, "TRY_BUDGET", -1.0)  # already spent: stops before the first article
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    seed(engine, articles=8)
    with serving(settings, engine) as client:
        tried = client.post("/watchlists/try", data={"csrf": _csrf(client), "query": "cartel"})
        assert tried.status_code == 200
        assert "0 of 0 articles match" in tried.text and "stopped after 0 of 8 articles: the time limit is -1 s" in tried.text
    engine.dispose()
