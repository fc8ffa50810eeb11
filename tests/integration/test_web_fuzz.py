"""Every route and parameter of the web app, fed hostile values: never a 5xx, always the security headers.

A generated table (route × parameter × value), not random draws, so a
failure names its request and every run tries the same cases. The app runs
under uvicorn on loopback over a seeded database, SQLite and PostgreSQL
(which overflows differently: `bigint out of range`, NUL in text).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from monitor.config import Settings
from monitor.store.engine import make_engine
from monitor.web import app as app_module
from monitor.web.app import SECURITY_HEADERS
from tests.integration.test_web import config, seed, serving


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


HUGE = "9" * 30
# Values that have broken parsers, databases or templates somewhere, one or two of each kind.
HOSTILE = [
    # numbers: past int4, past int8, past Python's int parsing limit, not ASCII digits
    "", "-1", "0", "2147483648", "9223372036854775808", HUGE, "9" * 5000, "²", "٣", "1e400", "+5",
    # durations and dates: past year 1 or 9999, offsets that overflow when made UTC, no such day
    "99999999999d", "9" * 400 + "d", "-5h", "9999-12-31", "0001-01-01", "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59", "2026-02-30",
    # text: NUL (PostgreSQL refuses it), header injection, deep nesting, long, astral and bidi, injections
    "\x00", "%00", "\r\nX-Injected: 1", "(" * 200 + "x" + ")" * 200, "x" * 5000, "\U0001F984" * 300, "\u202eevil",
    "'; DROP TABLE hits; --", "<script>alert(1)</script>", "{{ 7*7 }}", "../../../../etc/passwd", "/\\evil.example",
    "//evil.example",
    # lists and sort keys
    ",,,,", "failed," * 200, "sent,bogus", "all", "-name",
    # cursors: not base64, huge or negative id, overflowing times, naive time, long
    "!!!!", _cursor("garbage"), _cursor(f"2026-03-01T12:00:00+00:00|{HUGE}"), _cursor("2026-03-01T12:00:00+00:00|-1"),
    _cursor("9999-12-31T23:59:59-23:59|1"), _cursor("0001-01-01T00:00:00+23:59|1"), _cursor("2026-03-01T12:00:00|1"),
    _cursor("x" * 3000),
]
HIT_PARAMS = ["watchlist", "feed", "since", "until", "from", "to", "q", "story", "cursor"]
# The parameters each route reads; routes that read none get a stray one.
QUERY_PARAMS: dict[str, list[str]] = {
    "/hits": HIT_PARAMS,
    "/api/hits": [*HIT_PARAMS, "limit", "copies"],
    "/api/stories": [*HIT_PARAMS, "limit"],
    "/feeds": ["sort"],
    "/deliveries": ["status", "channel", "cursor", "retried"],
    "/api/deliveries": ["status", "channel", "cursor", "limit"],
    "/login": ["next"],
}
NO_PARAMS = ["/", "/watchlists", "/nodes", "/api/feeds", "/api/watchlists", "/api/openapi.json", "/healthz", "/metrics",
             "/feeds/all.atom", "/feeds/cartels.atom"]
# Path templates: {} is replaced by each hostile value, percent-encoded as one segment.
PATHS = ["/hits/{}", "/feeds/{}", "/feeds/{}.atom", "/static/{}", "/api/{}", "/{}"]
POST_PATHS = ["/deliveries/{}/retry"]
FORMS: dict[str, list[str]] = {
    "/watchlists/try": ["query", "recent"],
    "/login": ["token", "next"],
    "/logout": ["x"],
}


def requests_to_try() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) for every case of the table."""
    for path, params in QUERY_PARAMS.items():
        for param in params:
            for value in HOSTILE:
                yield "GET", path, {"params": {param: value}}
    for path in NO_PARAMS:
        for value in HOSTILE[::8]:
            yield "GET", path, {"params": {"x": value}}
    for template in PATHS:
        for value in HOSTILE:
            yield "GET", template.format(quote(value, safe="")), {}
    for template in POST_PATHS:
        for value in [*HOSTILE, "1"]:
            yield "POST", template.format(quote(value, safe="")), {"form": {}}
    for path, fields in FORMS.items():
        for field in fields:
            for value in HOSTILE:
                yield "POST", path, {"form": {field: value}}
    # Many copies of a parameter, and a body that is no form at all.
    yield "GET", "/api/hits", {"params": [("watchlist", str(i)) for i in range(500)]}
    yield "POST", "/watchlists/try", {"content": b"\xff\xfe--garbage", "headers": {"content-type": "multipart/form-data; boundary=x"}}
    yield "POST", "/watchlists/try", {"content": b"query=%FF%FE&csrf=", "headers": {"content-type": "application/x-www-form-urlencoded"}}


def test_no_hostile_input_gets_a_5xx_and_every_answer_has_the_security_headers(
    database_url: str, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "TRY_BURST", 10_000)  # every "try it" case reaches the handler
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    seed(engine, articles=8)
    cases = list(requests_to_try())
    assert len(cases) > 2000  # about 10 s a backend
    failures: list[str] = []
    statuses: dict[int, int] = {}
    with serving(settings, engine) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/watchlists").text).group(1)  # type: ignore[union-attr]
        for method, path, kwargs in cases:
            kwargs = dict(kwargs)
            if "form" in kwargs:
                kwargs["data"] = {"csrf": csrf, **kwargs.pop("form")}
            try:
                response = client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                failures.append(f"{method} {path} {kwargs}: {type(exc).__name__}: {exc}")
                continue
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            missing = [h for h in SECURITY_HEADERS if h not in response.headers]
            if response.status_code >= 500 or missing:
                failures.append(f"{method} {path} {str(kwargs)[:200]}: {response.status_code}, missing {missing}")
    engine.dispose()
    assert not failures, f"{len(failures)} bad answers, e.g.:\n" + "\n".join(failures[:20])
    # The table reaches the handlers (not only the router's 404): every kind of answer occurs.
    assert statuses.get(200, 0) > 500 and statuses.get(400, 0) > 300 and statuses.get(404, 0) > 50


BAD = [
    ("/api/hits?limit=%C2%B2", "limit: a number from 1 to 200"),
    ("/api/hits?since=99999999999d", "since: '99999999999d' reaches back before the year 1"),
    ("/api/hits?until=0001-01-01T00:00:00%2B23:59", "until: '0001-01-01T00:00:00+23:59' is out of range"),
    ("/api/hits?story=99999999999999999999999", "story: expected a number from 0 to 2147483647"),
    ("/api/hits?cursor=" + _cursor(f"2026-03-01T12:00:00+00:00|{HUGE}"), "invalid cursor"),
    ("/api/deliveries?status=sent,bogus", "status: unknown 'bogus'"),
    ("/api/hits?watchlist=a%00b", "NUL character in the URL"),
    ("/hits?to=2026-13-01", "from/to: expected a date, YYYY-MM-DD"),
]


def test_bad_parameters_get_400_or_404_with_the_reason(database_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    seed(engine, articles=8)
    with serving(settings, engine) as client:
        for path, reason in BAD:
            response = client.get(path)
            assert response.status_code == 400 and reason in response.text, path
            assert response.headers["x-frame-options"] == "DENY", path
        # The far ends of the date range are answers, not errors.
        everything = client.get("/api/hits", params={"to": "9999-12-31", "from": "0001-01-01", "copies": "1"})
        assert everything.status_code == 200 and len(everything.json()["items"]) == 8
        for path in ("/hits/99999999999999999999999", "/hits/2147483648", "/hits/2147483647"):
            missing = client.get(path)
            assert missing.status_code == 404 and "No such hit." in missing.text, path
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/watchlists").text).group(1)  # type: ignore[union-attr]
        retry = client.post("/deliveries/99999999999999999999999/retry", data={"csrf": csrf})
        assert retry.status_code == 404 and "No such delivery." in retry.text
        deep = client.post("/watchlists/try", data={"csrf": csrf, "query": "(" * 200 + "cartel" + ")" * 200})
        assert deep.status_code == 400 and "Query error: " in deep.text
        assert "content-security-policy" in deep.headers
    engine.dispose()
