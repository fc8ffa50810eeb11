"""The ASGI app: routes for the HTML pages, the JSON API, Atom feeds, /healthz and /metrics.

Server-rendered (Jinja2, autoescaped) with plain CSS; every page reads
without JavaScript. Handlers that touch the database are plain functions,
which Starlette runs in its thread pool. Reads go through `store.views.Views`; the
only writes are a delivery retry and nothing else (the "try it" form only
reads). See `security` for who may do what.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.config import Settings, parse_duration
from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec
from monitor.core.query import QueryError
from monitor.metrics import METRICS, Metrics
from monitor.node import dashboard_name
from monitor.records import delivery_dict, feed_states, hit_dict
from monitor.runtime import RuntimeStatus
from monitor.store.engine import Engine, make_engine
from monitor.store.hits import HitFilter
from monitor.store.nodes import rolling_change_warning
from monitor.store.outbox import STATUSES, UNSENT
from monitor.store.paging import MAX_ID, MAX_LIMIT, BadCursor, Cursor
from monitor.store.views import HitEntry, Views
from monitor.times import iso, utcnow
from monitor.web import atom, health, render
from monitor.web.openapi import openapi_document
from monitor.web.ratelimit import RateLimiter
from monitor.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Guard,
    allowed_hosts,
    csrf_ok,
    host_name,
    is_public,
    new_csrf,
)
from monitor.web.spikechart import watchlist_charts
from monitor.web.throttle import client_key
from monitor.wiring import entity_specs

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 50
TRY_DEFAULT, TRY_MAX = 200, 5000
TRY_RATE, TRY_BURST = 10, 10  # "try it" runs per minute per client address
TRY_BUDGET = 10.0  # seconds one "try it" may spend matching before it stops
# A typed query's size and the text it sees per article are bounded too: the
# budget is checked between articles, and matching costs about (occurrences
# in the text) x (terms in the query), so one huge article and a query of
# many terms could otherwise hold a worker (and the GIL) for many seconds.
TRY_MAX_QUERY = 500
TRY_MAX_TEXT = 20_000
CHART_DAYS = 30
FEED_SORTS = ("name", "state", "last_success", "last_error", "next_poll", "articles_per_day", "articles")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class BadRequest(ValueError):
    """A query parameter that cannot be used; answered with 400 and its message."""


# --- middleware ------------------------------------------------------------------


class SecurityMiddleware:
    """Host check, authentication (when a token is set), the CSRF cookie, security headers on
    every response, and the last-resort 500 (logged with its traceback)."""

    def __init__(self, app: ASGIApp, guard: Guard, hosts: frozenset[str]) -> None:
        self.app = app
        self.guard = guard
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._handle(scope, receive, tracked)
        except Exception:
            log.exception("web: %s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            error = PlainTextResponse("Internal server error: the details are in the server's log.\n", status_code=500)
            await error(scope, receive, self._headers(send, None))

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        path = scope["path"]
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, self._headers(send, None))
            return
        if self.guard.enabled and not is_public(path):
            response = self._authenticate(request)
            if response is not None:
                await response(scope, receive, self._headers(send, None))
                return
        csrf = request.cookies.get(CSRF_COOKIE)
        fresh = None
        if not csrf:
            csrf = fresh = new_csrf()
        scope.setdefault("state", {})["csrf"] = csrf
        await self.app(scope, receive, self._headers(send, fresh))

    def _refusal(self, request: Request) -> Response | None:
        """400 for a Host this server is not (DNS rebinding) and for NUL characters in the URL."""
        header = request.headers.get("host")
        if host_name(header) not in self.hosts:
            shown = repr(header[:100]) if header else "none"
            return PlainTextResponse(
                f"Bad request: Host {shown} is not a name of this server (see web.allowed_hosts)\n", status_code=400
            )
        if "\x00" in request.scope["path"] or b"%00" in request.scope.get("query_string", b""):
            return PlainTextResponse("Bad request: NUL character in the URL\n", status_code=400)
        return None

    def _authenticate(self, request: Request) -> Response | None:
        """None when the request carries the token or a live session; else the answer (401, 303, 429)."""
        client = request.client.host if request.client else None
        bearer = request.headers.get("authorization")
        if self.guard.bearer(bearer) is not None:
            wait = self.guard.throttle.retry_after(client)
            if wait > 0:
                return _too_many(wait)
            if self.guard.bearer(bearer):
                self.guard.throttle.succeeded(client)
                return None
            self.guard.throttle.failed(client)
        elif self.guard.session_ok(request.cookies.get(SESSION_COOKIE)):
            return None
        path = request.url.path
        if _is_machine_path(path) or request.method != "GET":
            return JSONResponse(
                {"error": "authentication required: Authorization: Bearer <token>"},
                status_code=401,
                headers={"www-authenticate": 'Bearer realm="monitor"'},
            )
        query = request.scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    @staticmethod
    def _headers(send: Send, csrf_cookie: str | None) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if csrf_cookie:
                    headers.append("set-cookie", f"{CSRF_COOKIE}={csrf_cookie}; Path=/; HttpOnly; SameSite=Strict")
            await send(message)

        return wrapped


def _too_many(wait: float) -> Response:
    seconds = math.ceil(wait)
    return JSONResponse(
        {"error": f"too many failed sign-ins from this address: retry after {seconds} s"},
        status_code=429,
        headers={"retry-after": str(seconds)},
    )


def _is_machine_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/metrics" or path.endswith(".atom")


# --- metrics ---------------------------------------------------------------------


class _ScrapeCollector(Collector):
    """The process's counters plus gauges read from the database at scrape time
    (the outbox, and `monitor_leases_held`: the feeds this node holds a lease on)."""

    def __init__(self, metrics: Metrics, store: Views, node: str, clock: Callable[[], datetime]) -> None:
        self.metrics = metrics
        self.store = store
        self.node = node
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        try:
            self.metrics.leases_held.set(self.store.leases_held(self.node, self.clock()))
        except Exception:
            log.warning("metrics: could not read this node's feed leases", exc_info=True)
        yield from self.metrics.registry.collect()
        try:
            counts = self.store.delivery_counts()
        except Exception:
            log.warning("metrics: could not read the outbox", exc_info=True)
            return
        by_status = GaugeMetricFamily("monitor_outbox_rows", "Outbox rows (alerts) by status", labels=["status"])
        for status in sorted(set(UNSENT) | {"sent"} | set(counts)):
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        pending = sum(counts.get(s, 0) for s in UNSENT if s != "failed")
        yield GaugeMetricFamily("monitor_outbox_pending", "Alerts not yet sent and not failed for good", value=pending)


# --- the app -----------------------------------------------------------------------


class WebApp:
    """Handlers bound to one configuration, store and runtime status."""

    def __init__(
        self,
        settings: Settings,
        store: Views,
        status: RuntimeStatus | None,
        clock: Callable[[], datetime],
        metrics: Metrics,
        current: Callable[[], Settings] | None = None,
        node: str = "",
    ) -> None:
        self._settings = settings
        # This process's node name: /healthz says it, /metrics counts its leases.
        self.node = node
        # Inside `monitor run`: the service's settings, which a reload swaps.
        self._current = current
        self.store = store
        self.status = status
        self.clock = clock
        # Through `self.clock`, which tests may replace after the app is built.
        self.guard = Guard(settings.web, lambda: self.clock())
        self.try_limiter = RateLimiter(TRY_RATE, 60, TRY_BURST)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ScrapeCollector(metrics, store, node, lambda: self.clock()))
        self.env = Environment(
            loader=PackageLoader("monitor.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(highlight=render.highlight, when=render.when, iso=iso, q=_q)
        self.env.globals.update(bar_chart=render.bar_chart, ago=render.ago, auth=self.guard.enabled)

    @property
    def settings(self) -> Settings:
        """The configuration now (after a reload, the new one; `web:` itself needs a restart)."""
        return self._current() if self._current is not None else self._settings

    @property
    def feed_tags(self) -> dict[str, frozenset[str]]:
        return {f.name: frozenset(f.tags) for f in self.settings.feeds}

    # --- helpers ------------------------------------------------------------------

    def page(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("now", self.clock())
        html = self.env.get_template(template).render(
            request=request, csrf=request.scope.get("state", {}).get("csrf", ""), path=request.url.path, **context
        )
        return HTMLResponse(html, status_code=status_code)

    def hit_filter(self, params: Any) -> HitFilter:
        now = self.clock()
        since = _time_param(params.get("since"), now, "since")
        until = _time_param(params.get("until"), now, "until")
        day_from, day_to = params.get("from"), params.get("to")
        try:
            if day_from:
                since = datetime.fromisoformat(day_from).replace(tzinfo=UTC)
            if day_to:
                until = datetime.fromisoformat(day_to).replace(tzinfo=UTC)
        except ValueError:
            raise BadRequest("from/to: expected a date, YYYY-MM-DD") from None
        if day_to and until is not None:
            try:
                until += timedelta(days=1)  # to the end of that day
            except OverflowError:
                until = None  # to 9999-12-31: no end
        story = _id_param(params.get("story"), "story")
        return HitFilter(
            watchlist=params.get("watchlist") or None,
            feed=params.get("feed") or None,
            since=since,
            until=until,
            search=(params.get("q") or "").strip() or None,
            story=story,
        )

    def watchlist_names(self) -> list[str]:
        names = [w.name for w in self.settings.watchlists]
        return names + sorted(set(self.store.hit_totals()) - set(names))

    # --- HTML pages -------------------------------------------------------------

    def hits_page(self, request: Request) -> Response:
        params = request.query_params
        try:
            filters = self.hit_filter(params)
            cursor = Cursor.decode(params.get("cursor"))
        except (BadRequest, BadCursor) as exc:
            return self.page(request, "error.html", 400, title="Bad request", message=str(exc))
        result = self.store.hits(filters, cursor=cursor, limit=PAGE_SIZE, group_stories=True)
        keep = {k: v for k, v in params.items() if k != "cursor" and v}
        older = "/hits?" + urlencode({**keep, "cursor": result.next_cursor}) if result.next_cursor else None
        return self.page(
            request,
            "hits.html",
            title="Hits",
            entries=result.items,
            note=result.note,
            filters=filters,
            params=params,
            older=older,
            newest="/hits?" + urlencode(keep) if cursor else None,
            watchlists=self.watchlist_names(),
            feeds=sorted(
                {h.name for h in self.store.feed_health()} | {f.name for f in self.settings.feeds}, key=str.casefold
            ),
        )

    def hit_page(self, request: Request) -> Response:
        hit_id = _path_id(request.path_params["hit_id"])
        found = self.store.hit(hit_id) if hit_id is not None else None
        if found is None:
            return self.page(request, "error.html", 404, title="Not found", message="No such hit.")
        entry, article = found
        others = self.store.hits(HitFilter(story=entry.story_id), limit=50).items if entry.story_id else []
        return self.page(
            request,
            "hit.html",
            title=entry.record.title or "Hit",
            entry=entry,
            article=article,
            others=[o for o in others if o.record.id != entry.record.id],
        )

    def feeds_page(self, request: Request) -> Response:
        sort = request.query_params.get("sort", "name")
        key = sort.lstrip("-")
        if key not in FEED_SORTS:
            return self.page(
                request, "error.html", 400, title="Bad request", message=f"sort: one of {', '.join(FEED_SORTS)}"
            )
        rows = self.feed_rows()
        rows.sort(key=lambda row: _sort_key(row, key), reverse=sort.startswith("-"))
        return self.page(request, "feeds.html", title="Feeds", rows=rows, sort=sort, sorts=FEED_SORTS)

    def feed_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        row = next((r for r in self.feed_rows() if r["name"] == name), None)
        if row is None:
            return self.page(request, "error.html", 404, title="Not found", message="No such feed.")
        return self.page(request, "feed.html", title=name, feed=row, articles=self.store.feed_articles(name))

    def watchlists_page(self, request: Request, **extra: Any) -> Response:
        return self.page(request, "watchlists.html", title="Watchlists", watchlists=self.watchlist_rows(), **extra)

    async def try_query(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request.cookies.get(CSRF_COOKIE), _str(form.get(CSRF_FIELD))):
            return _forbidden()
        client = client_key(request.client.host if request.client else None)
        if not self.try_limiter.allow(client, time.monotonic()):
            wait = math.ceil(self.try_limiter.retry_after(client, time.monotonic()))
            message = (
                f"Too many tries: at most {TRY_RATE} a minute from one address. "
                f"Try again in {wait} second{'s' if wait != 1 else ''}."
            )
            response = self.page(request, "error.html", 429, title="Too many tries", message=message)
            response.headers["retry-after"] = str(wait)
            return response
        query = _str(form.get("query")).strip()
        try:
            count = min(max(int(_str(form.get("recent")) or TRY_DEFAULT), 1), TRY_MAX)
        except ValueError:
            count = TRY_DEFAULT
        result = await run_in_threadpool(self.run_try, query, count)
        return await run_in_threadpool(
            self.watchlists_page,
            request,
            tried=result,
            try_query=query,
            try_recent=count,
            status_code=400 if result["error"] else 200,
        )

    def run_try(self, query: str, count: int) -> dict[str, Any]:
        """The query over the last `count` stored articles, with the engine `monitor test` uses.

        The visitor is not trusted: regular expressions must run on RE2
        (`regex_fallback=False`), and matching stops after TRY_BUDGET seconds.
        """
        if not query:
            return {"error": "enter a query", "matches": [], "articles": 0}
        if len(query) > TRY_MAX_QUERY:
            return {"error": f"the query is longer than {TRY_MAX_QUERY} characters", "matches": [], "articles": 0}
        try:
            matcher = Matcher(
                [WatchlistSpec(name="try", query=query)], entity_specs(self.settings), regex_fallback=False
            )
            articles = self.store.recent_articles(count)
            matches = []
            done, deadline, stopped = 0, time.monotonic() + TRY_BUDGET, None
            for article in articles:
                if time.monotonic() > deadline:
                    stopped = f"stopped after {done} of {len(articles)} articles: the time limit is {TRY_BUDGET:g} s"
                    break
                text = ArticleText(
                    article.title[:TRY_MAX_TEXT],
                    article.text[:TRY_MAX_TEXT],
                    article.feed,
                    self.feed_tags.get(article.feed, frozenset()),
                )
                for result in matcher.match(text):
                    matches.append({"article": article, "result": result})
                done += 1
        except QueryError as exc:
            return {"error": str(exc), "matches": [], "articles": 0}
        except RecursionError:
            return {"error": "the query is nested too deeply", "matches": [], "articles": 0}
        return {"error": None, "matches": matches, "articles": done, "stopped": stopped}

    def deliveries_page(self, request: Request) -> Response:
        params = request.query_params
        show = params.get("status", "unsent")
        try:
            statuses = _statuses(show)
            cursor = Cursor.decode(params.get("cursor"))
        except (BadRequest, BadCursor) as exc:
            return self.page(request, "error.html", 400, title="Bad request", message=str(exc))
        result = self.store.deliveries(
            statuses=statuses, channel=params.get("channel") or None, cursor=cursor, limit=PAGE_SIZE
        )
        keep = {k: v for k, v in params.items() if k not in ("cursor", "retried") and v}
        return self.page(
            request,
            "deliveries.html",
            title="Deliveries",
            rows=result.items,
            counts=self.store.delivery_counts(),
            show=show,
            retried=params.get("retried"),
            older="/deliveries?" + urlencode({**keep, "cursor": result.next_cursor}) if result.next_cursor else None,
        )

    async def retry(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request.cookies.get(CSRF_COOKIE), _str(form.get(CSRF_FIELD))):
            return _forbidden()
        delivery_id = _path_id(request.path_params["delivery_id"])
        if delivery_id is None:
            return self.page(request, "error.html", 404, title="Not found", message="No such delivery.")
        count = await run_in_threadpool(self.store.retry, delivery_id, self.clock())
        return RedirectResponse(f"/deliveries?retried={count}", status_code=303)

    async def login(self, request: Request) -> Response:
        target = _local_target(request.query_params.get("next"))
        if request.method == "GET":
            return self.page(request, "login.html", title="Sign in", next=target, problem=None)
        form = await request.form()
        if not csrf_ok(request.cookies.get(CSRF_COOKIE), _str(form.get(CSRF_FIELD))):
            return _forbidden()
        if not self.guard.enabled:
            return RedirectResponse(target, status_code=303)
        client = request.client.host if request.client else None
        wait = self.guard.throttle.retry_after(client)
        if wait > 0:
            seconds = math.ceil(wait)
            refused = self.page(
                request,
                "login.html",
                429,
                title="Sign in",
                next=target,
                problem=f"Too many failed sign-ins from your address: try again in {seconds} s.",
            )
            refused.headers["retry-after"] = str(seconds)
            return refused
        if not self.guard.token_ok(_str(form.get("token"))):
            self.guard.throttle.failed(client)
            return self.page(
                request, "login.html", 401, title="Sign in", next=target, problem="That token is not right."
            )
        self.guard.throttle.succeeded(client)
        self.guard.sessions.end(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.guard.sessions.start(),
            max_age=self.guard.session_seconds,
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request.cookies.get(CSRF_COOKIE), _str(form.get(CSRF_FIELD))):
            return _forbidden()
        self.guard.sessions.end(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- data shared by pages and the API -------------------------------------------

    def feed_rows(self) -> list[dict[str, Any]]:
        now = self.clock()
        per_day = self.store.articles_per_day(now)
        return [
            {
                "name": feed.health.name,
                "url": feed.health.url,
                "state": feed.state,
                "reason": feed.reason,
                "last_success": feed.health.last_success_at,
                "last_polled": feed.health.last_polled_at,
                "last_error": feed.health.last_error,
                "last_error_at": feed.health.last_error_at,
                "next_poll": feed.health.next_poll_at if feed.state not in ("disabled", "removed") else None,
                "articles": feed.health.articles,
                "articles_per_day": round(per_day.get(feed.health.name, 0.0), 2),
                "tags": list(feed.tags),
            }
            for feed in feed_states(self.store.feed_health(), self.settings, now)
        ]

    def watchlist_rows(self) -> list[dict[str, Any]]:
        now = self.clock()
        spikes = watchlist_charts(self.settings, self.store.reader, now)
        daily = self.store.daily_hits(now, CHART_DAYS)
        totals = self.store.hit_totals()
        first = now.astimezone(UTC).date() - timedelta(days=CHART_DAYS - 1)
        labels = [(first + timedelta(days=i)).isoformat() for i in range(CHART_DAYS)]
        return [
            {
                "name": w.name,
                "query": w.query,
                "keywords": list(w.keywords),
                "entities": list(w.entities),
                "tags": list(w.tags),
                "channels": list(w.channels),
                "hits_total": totals.get(w.name, 0),
                "hits_per_day": daily.get(w.name, [0] * CHART_DAYS),
                "labels": labels,
                "spike_chart": spikes.get(w.name),
            }
            for w in self.settings.watchlists
        ]

    # --- JSON API -----------------------------------------------------------------------

    def api_hits(self, request: Request) -> Response:
        # Like `monitor hits`: one hit per story and watchlist, unless ?copies=1 (`--copies`).
        return self._api_hit_list(request, group=request.query_params.get("copies") not in ("1", "true"))

    def api_stories(self, request: Request) -> Response:
        return self._api_hit_list(request, group=True)

    def _api_hit_list(self, request: Request, *, group: bool) -> Response:
        params = request.query_params
        try:
            filters = self.hit_filter(params)
            cursor = Cursor.decode(params.get("cursor"))
            limit = _limit(params.get("limit"))
        except (BadRequest, BadCursor) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        result = self.store.hits(filters, cursor=cursor, limit=limit, group_stories=group)
        story_view = request.url.path == "/api/stories"
        items = [_story_json(e) if story_view else hit_dict(e.record) for e in result.items]
        return JSONResponse({"items": items, "next_cursor": result.next_cursor, "note": result.note})

    def api_feeds(self, request: Request) -> Response:
        rows = [{k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()} for row in self.feed_rows()]
        return JSONResponse({"items": rows})

    def api_watchlists(self, request: Request) -> Response:
        rows = [{k: v for k, v in row.items() if k not in ("labels", "spike_chart")} for row in self.watchlist_rows()]
        return JSONResponse({"items": rows})

    def api_deliveries(self, request: Request) -> Response:
        params = request.query_params
        try:
            statuses = _statuses(params.get("status"))
            cursor = Cursor.decode(params.get("cursor"))
            limit = _limit(params.get("limit"))
        except (BadRequest, BadCursor) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        result = self.store.deliveries(
            statuses=statuses, channel=params.get("channel") or None, cursor=cursor, limit=limit
        )
        return JSONResponse({"items": [delivery_dict(r) for r in result.items], "next_cursor": result.next_cursor})

    def api_openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(str(request.base_url)))

    # --- Atom -------------------------------------------------------------------------------

    def atom_feed(self, request: Request) -> Response:
        name = request.path_params["watchlist"]
        base = str(request.base_url).rstrip("/")
        if name == "all":
            filters, title = HitFilter(), "monitor: all hits"
        else:
            if name not in self.watchlist_names():
                return Response("no such watchlist\n", status_code=404, media_type="text/plain")
            filters, title = HitFilter(watchlist=name), f"monitor: {name}"
        hits = [e.record for e in self.store.hits(filters, limit=PAGE_SIZE).items]
        body = atom.atom_feed(
            hits,
            title=title,
            feed_id=f"tag:{atom.TAG_AUTHORITY}:feed:{quote(name, safe='')}",
            self_url=f"{base}/feeds/{quote(name, safe='')}.atom",
            alternate_url=f"{base}/hits" + (f"?{urlencode({'watchlist': name})}" if name != "all" else ""),
            hit_url=base + "/hits/{id}",
            now=self.clock(),
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    # --- health and metrics ---------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        error = None
        try:
            await asyncio.wait_for(run_in_threadpool(self.store.ping), timeout=health.DB_TIMEOUT)
        except TimeoutError:
            error = f"no answer within {health.DB_TIMEOUT:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure is the reason
            error = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        poll = self.settings.poll
        deadline = poll.deadline or (poll.timeout + poll.connect_timeout)
        if self.status is not None:
            running, started, tick = self.status.snapshot()
            observed = health.HealthInput(
                now=self.clock(),
                database_error=error,
                in_process=True,
                scheduler_running=running,
                last_tick=tick,
                started_at=started,
                tick_seconds=self.status.poll_tick_seconds,
                fetch_deadline=deadline,
                node=self.node,
            )
        else:
            last = None
            if error is None:
                try:
                    last = await asyncio.wait_for(
                        run_in_threadpool(self.store.last_polled_at), timeout=health.DB_TIMEOUT
                    )
                except Exception:  # noqa: BLE001 - reported as unknown
                    last = None
            observed = health.HealthInput(
                now=self.clock(), database_error=error, in_process=False, last_poll_at=last, node=self.node
            )
        code, body = health.decide(observed)
        return JSONResponse(body, status_code=code, headers={"cache-control": "no-store"})

    def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    # --- nodes ------------------------------------------------------------------------------

    def nodes_page(self, request: Request) -> Response:
        """The daemons sharing the database (as `monitor status` lists them)."""
        nodes = self.store.nodes(self.clock(), self.settings.cluster.heartbeat)
        return self.page(
            request,
            "nodes.html",
            title="Nodes",
            nodes=nodes,
            this_node=self.node,
            warning=rolling_change_warning(nodes),
        )


def _story_json(entry: HitEntry) -> dict[str, Any]:
    return {
        "story_id": entry.story_id,
        "watchlist": entry.record.watchlist,
        "hits": entry.copies,
        "sources": [entry.record.feed, *entry.sources],
        "deliveries": [asdict(d) for d in entry.deliveries],
        "hit": hit_dict(entry.record),
    }


def _forbidden() -> Response:
    return Response(
        "CSRF token missing or wrong: reload the page and try again\n", status_code=403, media_type="text/plain"
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _local_target(value: str | None) -> str:
    """Where to go after signing in: a path on this server, else /hits (no open redirect)."""
    if (
        not value
        or not value.startswith("/")
        or value[1:2] in ("/", "\\")
        or any(ord(c) < 32 or c == "\x7f" for c in value)
    ):
        return "/hits"
    return value


def _q(value: Any) -> str:
    return quote(str(value), safe="")


def _limit(value: str | None) -> int:
    if not value:
        return PAGE_SIZE
    if not (value.isascii() and value.isdigit() and len(value) <= 3 and 1 <= int(value) <= MAX_LIMIT):
        raise BadRequest(f"limit: a number from 1 to {MAX_LIMIT}")
    return int(value)


def _id_param(value: str | None, name: str) -> int | None:
    """A row id given as a parameter: digits 0-9, at most MAX_ID (the ids' column type)."""
    if not value:
        return None
    ident = _path_id(value)
    if ident is None:
        raise BadRequest(f"{name}: expected a number from 0 to {MAX_ID}")
    return ident


def _path_id(value: str) -> int | None:
    """A row id in a path (/hits/ID): None when it names no row (not digits 0-9, or past MAX_ID)."""
    if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= MAX_ID:
        return int(value)
    return None


def _statuses(value: str | None) -> tuple[str, ...]:
    """?status=: `unsent` (the default), `all`, or comma-separated outbox statuses."""
    if not value or value == "unsent":
        return UNSENT
    if value == "all":
        return ()
    statuses = tuple(dict.fromkeys(s.strip() for s in value.split(",")))
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise BadRequest(f"status: unknown {unknown[0][:40]!r} (unsent, all, or some of {', '.join(STATUSES)})")
    return statuses


def _time_param(value: str | None, now: datetime, name: str) -> datetime | None:
    if not value:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError:
        pass
    else:
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:
            raise BadRequest(f"{name}: {value[:40]!r} reaches back before the year 1") from None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        raise BadRequest(f"{name}: expected a duration (24h, 7d) or an ISO 8601 time") from None
    except OverflowError:
        raise BadRequest(f"{name}: {value[:40]!r} is out of range (years 1 to 9999)") from None


def _sort_key(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if key == "state":
        order = {"failing": 0, "disabled": 1, "quiet": 2, "new": 3, "ok": 4, "removed": 5}
        return (order.get(str(value), 9), row["name"].casefold())
    if isinstance(value, datetime):
        return (0, value.timestamp())
    if isinstance(value, int | float):
        return (0, value)
    if value is None:
        return (1, 0)
    return (0, str(value).casefold())


def make_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    status: RuntimeStatus | None = None,
    clock: Callable[[], datetime] = utcnow,
    metrics: Metrics = METRICS,
    current: Callable[[], Settings] | None = None,
    listen: str | None = None,
    node: str | None = None,
) -> Starlette:
    """The web app over `settings`' database (or `engine`); `status` and
    `current` (the live settings, which reloads replace) are given by `monitor run`;
    `listen` (default `web.listen`) is the address served, whose host is a name it answers to;
    `node` is this process's node name (default `monitor.node.dashboard_name`)."""
    engine = engine or make_engine(settings.database)
    store = Views(engine)
    web = WebApp(settings, store, status, clock, metrics, current, node or dashboard_name(settings))
    routes = [
        Route("/", lambda request: RedirectResponse("/hits", status_code=303)),
        Route("/hits", web.hits_page),
        Route("/hits/{hit_id}", web.hit_page),
        Route("/feeds/{watchlist}.atom", web.atom_feed),
        Route("/feeds", web.feeds_page),
        Route("/feeds/{name}", web.feed_page),
        Route("/watchlists", web.watchlists_page),
        Route("/watchlists/try", web.try_query, methods=["POST"]),
        Route("/deliveries", web.deliveries_page),
        Route("/deliveries/{delivery_id}/retry", web.retry, methods=["POST"]),
        Route("/nodes", web.nodes_page),
        Route("/login", web.login, methods=["GET", "POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/healthz", web.healthz),
        Route("/metrics", web.metrics),
        Route("/api/hits", web.api_hits),
        Route("/api/stories", web.api_stories),
        Route("/api/feeds", web.api_feeds),
        Route("/api/watchlists", web.api_watchlists),
        Route("/api/deliveries", web.api_deliveries),
        Route("/api/openapi.json", web.api_openapi),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SecurityMiddleware, guard=web.guard, hosts=allowed_hosts(settings.web, listen))
    app.state.web = web
    return app


__all__ = ["make_app"]
