"""Real local servers for integration tests: feeds over HTTP, webhooks, SMTP,
and a stand-in internet (fake DNS and "public" addresses) in front of them.

Everything binds to 127.0.0.1 on a port the kernel picks, so tests never touch
the internet and parallel workers (pytest-xdist) never collide.  Each server
holds on to its port for its whole life: ``stop()`` closes the listener (clients
get "connection refused") but keeps the port reserved, and ``start()`` listens
on the same port again.  That is what "endpoint down, then up" tests need.

All recording is thread-safe; the ``requests`` / ``posts`` / ``messages``
properties return snapshots.  Header names in records are lower-cased.

The fixtures in ``tests/conftest.py`` wrap these classes; import from here
(``from tests.servers import ...``) when a test needs the types or helpers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip as gzip_module
import hashlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpcore

from monitor.fetch.asyncnet import AsyncioBackend

if TYPE_CHECKING:
    import pytest

__all__ = [
    "LOOPBACK",
    "SLACK_APPRISE_URL",
    "SLACK_TOKENS",
    "Attempt",
    "FakeInternet",
    "FeedServer",
    "Post",
    "ReceivedMail",
    "RecordedRequest",
    "SmtpServer",
    "WebhookServer",
    "slack_base",
    "unthrottle_apprise",
    "wait_for",
]

LOOPBACK = "127.0.0.1"

# Apprise's webhook-mode Slack URL is slack://{token_a}/{token_b}/{token_c};
# token_a/token_b must match [A-Z0-9]+ and token_c [A-Za-z0-9]+.
SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7")
SLACK_APPRISE_URL = "slack://{}/{}/{}".format(*SLACK_TOKENS)

# How often serve_forever() checks for shutdown; bounds the cost of stop().
_POLL_INTERVAL = 0.02

T = TypeVar("T")


# --------------------------------------------------------------------------
# Waiting (the only acceptable kind)
# --------------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    interval: float = 0.01,
    message: str | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that.

    For deliveries that happen in another thread or process.  Fails with an
    AssertionError naming what was awaited (and the last value seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {what} (last value: {value!r})"
            )
        time.sleep(interval)


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------


def _bind_loopback(port: int = 0) -> socket.socket:
    """A TCP socket bound (not listening) to 127.0.0.1:port.

    A bound socket that does not listen keeps the port ours while connections
    to it are refused, which is how a stopped server stays "down" on its port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _lower_headers(items: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def _bare_path(target: str) -> str:
    return urlsplit(target).path or "/"


# --------------------------------------------------------------------------
# HTTP servers (shared base)
# --------------------------------------------------------------------------


class RecordedRequest(NamedTuple):
    """One HTTP request as received. ``path`` keeps the query string."""

    method: str
    path: str
    headers: dict[str, str]


class _Dropped(Exception):
    """Close the connection without sending a response."""


class _Handler(BaseHTTPRequestHandler):
    # One request per connection: a stopped server must not keep answering on
    # pooled keep-alive connections, and it keeps the threads short-lived.
    protocol_version = "HTTP/1.1"
    server_version = "monitor-test"
    sys_version = ""
    server: _HTTPD

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client gave up first (e.g. after its read timeout)

    def _dispatch(self) -> None:
        self.close_connection = True
        try:
            self.server.owner._handle(self)
        except _Dropped:
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        send_body: bool = True,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304 and not 100 <= status < 200 and status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if send_body and body and status != 304:
            self.wfile.write(body)
        self.wfile.flush()


class _HTTPD(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when several daemons open
    # dozens of connections at once on a busy machine: the kernel then drops
    # SYNs and a client may hit its connect timeout without the request ever
    # being recorded. A real server listens with a deep queue; so do we.
    request_queue_size = 128
    owner: _LoopbackHTTPServer


class _LoopbackHTTPServer:
    """A ThreadingHTTPServer in a daemon thread with a stable loopback port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reserved: socket.socket | None = _bind_loopback(0)
        self.host = LOOPBACK
        self.port: int = self._reserved.getsockname()[1]
        self._httpd: _HTTPD | None = None
        self._thread: threading.Thread | None = None
        # Set on stop() so that hanging handlers give up at once.
        self._released = threading.Event()
        self._requests: list[RecordedRequest] = []

    # -- lifecycle ---------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> None:
        """Listen (again) on the same port. Ready as soon as this returns."""
        if self._httpd is not None:
            return
        if self._reserved is None:
            raise RuntimeError(f"{type(self).__name__} was closed")
        httpd = _HTTPD((self.host, self.port), _Handler, bind_and_activate=False)
        httpd.socket.close()  # replaced by our already-bound socket
        httpd.socket, self._reserved = self._reserved, None
        # Set what HTTPServer.server_bind would, minus its getfqdn() lookup.
        httpd.server_address = httpd.socket.getsockname()
        httpd.server_name, httpd.server_port = self.host, self.port
        httpd.owner = self
        httpd.server_activate()  # listen(): connections queue from here on
        self._released = threading.Event()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; the port stays reserved and connections are refused."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._released.set()
        httpd.shutdown()
        httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._thread = None
        self._reserved = _bind_loopback(self.port)

    def close(self) -> None:
        """Stop and give the port back."""
        self.stop()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def __enter__(self: T) -> T:
        self.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- addressing and records --------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Requests for ``path`` (query ignored unless ``path`` has one)."""
        match = (lambda p: p == path) if "?" in path else (lambda p: _bare_path(p) == path)
        return [r for r in self.requests if match(r.path)]

    def count(self, path: str) -> int:
        return len(self.requests_to(path))

    def _record(self, handler: _Handler) -> RecordedRequest:
        request = RecordedRequest(handler.command, handler.path, _lower_headers(handler.headers.items()))
        with self._lock:
            self._requests.append(request)
        return request

    def _handle(self, handler: _Handler) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------
# Feeds
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Route:
    body: bytes
    content_type: str
    etag: bool
    last_modified: datetime | None
    status: int
    headers: Mapping[str, str]
    gzip: bool
    # Set by set_status()/redirect(); cleared by set().
    status_headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    hang: float | None = None
    trickle: float | None = None  # send the body one byte per this many seconds

    @property
    def etag_value(self) -> str | None:
        if not self.etag:
            return None
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def _as_http_datetime(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = parsedate_to_datetime(value)
    if value.tzinfo is None:
        raise ValueError("last_modified must be timezone-aware")
    # HTTP dates have whole-second resolution.
    return value.astimezone(UTC).replace(microsecond=0)


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison, as RFC 9110 prescribes for If-None-Match."""
    candidates = [c.strip() for c in header.split(",")]
    bare = etag.removeprefix("W/")
    return any(c == "*" or c.removeprefix("W/") == bare for c in candidates)


class FeedServer(_LoopbackHTTPServer):
    """Serves feed documents registered by the test, with conditional GET.

    Unknown paths answer 404.  Routes match on the path without query string.
    """

    def __init__(self) -> None:
        super().__init__()
        self._routes: dict[str, _Route] = {}
        self._answers: list[tuple[str, int]] = []
        # Seconds to wait before answering each feed request (a slow publisher);
        # stop() and close() end the wait at once.
        self.delay = 0.0

    # -- configuration -----------------------------------------------------

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: bool = True,
        last_modified: datetime | str | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
    ) -> str:
        """Register (or replace) ``path`` and return its full URL.

        ``etag=True`` serves a strong ETag derived from the body.
        ``last_modified`` (aware datetime or HTTP-date) is sent as
        Last-Modified and honoured for If-Modified-Since.  ``gzip=True``
        answers Content-Encoding: gzip to clients that accept it.
        ``headers`` are extra response headers (e.g. Cache-Control).
        """
        path = self._normalise(path)
        route = _Route(
            body=bytes(body),
            content_type=content_type,
            etag=etag,
            last_modified=_as_http_datetime(last_modified),
            status=status,
            headers=dict(headers or {}),
            gzip=gzip,
        )
        with self._lock:
            self._routes[path] = route
        return self.url(path)

    def set(self, path: str, body: bytes, **changes: Any) -> str:
        """Serve new content at ``path`` (status 200; the ETag follows the body).

        Clears any set_status()/redirect()/hang() state.  ``changes`` may
        override other add() arguments, e.g. ``last_modified=...``.
        """
        path = self._normalise(path)
        if "last_modified" in changes:
            changes["last_modified"] = _as_http_datetime(changes["last_modified"])
        with self._lock:
            route = self._routes.get(path)
            if route is None:
                route = self._default_route()
            fields: dict[str, Any] = {"status": 200, "status_headers": {}, "hang": None}
            fields.update(changes, body=bytes(body))
            self._routes[path] = dataclasses.replace(route, **fields)
        return self.url(path)

    def set_status(
        self,
        path: str,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Answer ``status`` (with ``body`` and e.g. Retry-After ``headers``)."""
        path = self._normalise(path)
        with self._lock:
            route = self._routes.get(path) or self._default_route()
            self._routes[path] = dataclasses.replace(
                route, status=status, body=bytes(body), status_headers=dict(headers or {}), hang=None, trickle=None
            )
        return self.url(path)

    def redirect(self, path: str, to_path: str, status: int = 301) -> str:
        """Redirect ``path`` to ``to_path`` (a path here, or an absolute URL)."""
        location = to_path if "://" in to_path else self.url(to_path)
        path = self._normalise(path)
        with self._lock:
            route = self._routes.get(path) or self._default_route()
            self._routes[path] = dataclasses.replace(
                route, status=status, body=b"", status_headers={"Location": location}, hang=None, trickle=None
            )
        return self.url(path)

    def trickle(self, path: str, body: bytes, seconds_per_byte: float) -> str:
        """Serve ``body`` one byte at a time, ``seconds_per_byte`` apart (a slow-loris feed)."""
        path = self._normalise(path)
        with self._lock:
            route = self._routes.get(path) or self._default_route()
            self._routes[path] = dataclasses.replace(route, body=bytes(body), trickle=seconds_per_byte, hang=None)
        return self.url(path)

    def hang(self, path: str, seconds: float | None) -> str:
        """Read requests for ``path``, then send nothing for ``seconds``.

        Afterwards the connection is closed without a response.  stop() and
        close() end a hang at once.  ``seconds=None`` turns hanging off.
        """
        path = self._normalise(path)
        with self._lock:
            route = self._routes.get(path) or self._default_route()
            self._routes[path] = dataclasses.replace(route, hang=seconds)
        return self.url(path)

    # -- records -----------------------------------------------------------

    def statuses(self, path: str) -> list[int]:
        """Statuses answered for ``path`` in order (dropped connections excluded)."""
        path = self._normalise(path)
        with self._lock:
            return [status for p, status in self._answers if p == path]

    def etag(self, path: str) -> str | None:
        """The ETag currently served for ``path``."""
        with self._lock:
            return self._routes[self._normalise(path)].etag_value

    # -- serving -----------------------------------------------------------

    @staticmethod
    def _normalise(path: str) -> str:
        return path if path.startswith("/") else "/" + path

    @staticmethod
    def _default_route() -> _Route:
        return _Route(
            body=b"",
            content_type="application/rss+xml; charset=utf-8",
            etag=True,
            last_modified=None,
            status=200,
            headers={},
            gzip=False,
        )

    def _handle(self, handler: _Handler) -> None:
        request = self._record(handler)
        handler.read_body()
        path = _bare_path(request.path)
        with self._lock:
            route = self._routes.get(path)
            released = self._released
        if route is None:
            return self._answer(handler, path, 404, b"not found", {"Content-Type": "text/plain"})
        if self.delay:
            released.wait(self.delay)
        if route.hang is not None:
            released.wait(route.hang)
            raise _Dropped
        if route.trickle is not None:
            handler.send_response(200)
            handler.send_header("Content-Type", route.content_type)
            handler.send_header("Content-Length", str(len(route.body)))
            handler.end_headers()
            for byte in route.body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                if released.wait(route.trickle):
                    break
            raise _Dropped
        status, body = route.status, route.body
        headers = {"Content-Type": route.content_type, **route.headers, **route.status_headers}
        if status == 200:
            etag = route.etag_value
            if etag:
                headers["ETag"] = etag
            if route.last_modified:
                headers["Last-Modified"] = format_datetime(route.last_modified, usegmt=True)
            if request.method in ("GET", "HEAD") and self._not_modified(request.headers, route):
                del headers["Content-Type"]
                return self._answer(handler, path, 304, b"", headers)
            if route.gzip:
                headers["Vary"] = "Accept-Encoding"
                if "gzip" in request.headers.get("accept-encoding", "").lower():
                    body = gzip_module.compress(body, mtime=0)
                    headers["Content-Encoding"] = "gzip"
        self._answer(handler, path, status, body, headers)

    @staticmethod
    def _not_modified(request_headers: Mapping[str, str], route: _Route) -> bool:
        if_none_match = request_headers.get("if-none-match")
        if if_none_match is not None:
            etag = route.etag_value
            return etag is not None and _etag_matches(if_none_match, etag)
        if_modified_since = request_headers.get("if-modified-since")
        if if_modified_since and route.last_modified:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return since >= route.last_modified
        return False

    def _answer(
        self, handler: _Handler, path: str, status: int, body: bytes, headers: Mapping[str, str]
    ) -> None:
        # Record first: the client may look at statuses() as soon as it has the reply.
        with self._lock:
            self._answers.append((path, status))
        handler.respond(status, body, headers, send_body=handler.command != "HEAD")


# --------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------


class Attempt(NamedTuple):
    """Any request the webhook server received, with the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    status: int


class Post(NamedTuple):
    """A request the webhook server accepted (answered 2xx)."""

    path: str
    headers: dict[str, str]
    body: bytes
    json: Any  # parsed body when the Content-Type says JSON, else None


class WebhookServer(_LoopbackHTTPServer):
    """Accepts requests on any path and records them; answers 200 ``ok``.

    ``ok`` is what Slack's incoming webhooks answer, and apprise's Slack
    plugin treats any other body as a failure.
    """

    def __init__(self) -> None:
        super().__init__()
        self._attempts: list[Attempt] = []
        self._failures: list[tuple[int, bytes, dict[str, str]]] = []
        self._response: tuple[int, bytes, dict[str, str]] = (
            200,
            b"ok",
            {"Content-Type": "text/plain; charset=utf-8"},
        )
        # Seconds to wait before answering each request (a slow provider).
        self.delay = 0.0

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        body: bytes = b"error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (queued after earlier ones)."""
        with self._lock:
            self._failures.extend([(status, bytes(body), dict(headers or {}))] * n)

    def set_response(
        self,
        status: int = 200,
        body: bytes = b"ok",
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        """Change the default answer."""
        with self._lock:
            self._response = (status, bytes(body), {"Content-Type": content_type})

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    @property
    def posts(self) -> list[Post]:
        """Accepted (2xx) requests, in arrival order."""
        return [
            Post(a.path, a.headers, a.body, a.json) for a in self.attempts if 200 <= a.status < 300
        ]

    def posts_to(self, path: str) -> list[Post]:
        match = (lambda p: p == path) if "?" in path else (lambda p: _bare_path(p) == path)
        return [p for p in self.posts if match(p.path)]

    def _handle(self, handler: _Handler) -> None:
        request = self._record(handler)
        body = handler.read_body()
        if self.delay:
            self._released.wait(self.delay)
        parsed = None
        if "json" in request.headers.get("content-type", "").lower():
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        with self._lock:
            status, answer, headers = self._failures.pop(0) if self._failures else self._response
            self._attempts.append(
                Attempt(request.method, request.path, request.headers, body, parsed, status)
            )
        handler.respond(status, answer, headers, send_body=request.method != "HEAD")


def slack_base(
    webhook_server: WebhookServer, monkeypatch: pytest.MonkeyPatch, path: str = "/slack"
) -> str:
    """Point apprise's Slack webhook mode at ``webhook_server`` and return the apprise URL.

    apprise posts to ``f"{NotifySlack.webhook_url}/{token_a}/{token_b}/{token_c}"``;
    with SLACK_APPRISE_URL the posts land on ``path + "/" + "/".join(SLACK_TOKENS)``.
    """
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifySlack, "webhook_url", webhook_server.url(path))
    return SLACK_APPRISE_URL


def unthrottle_apprise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch off apprise's per-plugin-instance rate limit for this test.

    apprise sleeps before each send from the same plugin object until
    ``request_rate_per_sec`` seconds have passed since the previous one:
    5.5 s for NotifyBase (so email), 1.2 s for Slack.  The first send of an
    instance never waits.
    """
    from apprise.plugins.base import NotifyBase
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifyBase, "request_rate_per_sec", 0)
    monkeypatch.setattr(NotifySlack, "request_rate_per_sec", 0)


# --------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def to(self) -> str:
        return str(self.message["To"] or "")

    def text(self, subtype: str = "plain") -> str:
        """The body part of ``subtype`` ("plain" or "html"), decoded."""
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None:
            raise LookupError(f"no text/{subtype} part in message {self.subject!r}")
        return str(part.get_content())


class _MailHandler:
    def __init__(self, owner: SmtpServer) -> None:
        self._owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self._owner._receive(envelope)


def _make_controller(handler: _MailHandler, sock: socket.socket) -> Any:
    from aiosmtpd.controller import Controller

    class _SocketController(Controller):  # type: ignore[misc]
        """aiosmtpd 1.4 cannot bind port 0 itself; serve an already-bound socket."""

        def _create_server(self) -> Any:
            return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)

    host, port = sock.getsockname()[:2]
    # server_hostname avoids a getfqdn() DNS lookup per session.
    return _SocketController(
        handler, hostname=host, port=port, server_hostname="localhost", ready_timeout=5.0
    )


class SmtpServer:
    """aiosmtpd on 127.0.0.1 collecting messages; no TLS, no AUTH."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reserved: socket.socket | None = _bind_loopback(0)
        self.host = LOOPBACK
        self.port: int = self._reserved.getsockname()[1]
        self._controller: Any = None
        self._messages: list[ReceivedMail] = []
        self._failures: list[str] = []

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen (again) on the same port; returns once the server answers."""
        if self._controller is not None:
            return
        if self._reserved is None:
            raise RuntimeError("SmtpServer was closed")
        sock, self._reserved = self._reserved, None
        controller = _make_controller(_MailHandler(self), sock)
        try:
            controller.start()
        except BaseException:
            sock.close()
            self._reserved = _bind_loopback(self.port)
            raise
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; the port stays reserved and connections are refused."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        controller.stop()  # closes the listening socket
        self._reserved = _bind_loopback(self.port)

    def close(self) -> None:
        self.stop()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fail_next(self, n: int = 1, reply: str = "451 4.3.0 Temporary failure, try later") -> None:
        """Reject the next ``n`` messages at DATA with ``reply``."""
        with self._lock:
            self._failures.extend([reply] * n)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def mailto_url(
        self,
        to: str = "desk@example.org",
        from_addr: str = "monitor@example.org",
        **params: str,
    ) -> str:
        """An apprise URL that delivers here in plain SMTP without AUTH.

        ``mailto://`` (not ``mailtos://``) means no TLS; ``mode=insecure`` makes
        that explicit.  With no user/password in the URL apprise skips login.
        ``params`` add apprise email options (e.g. ``format="text"``, ``cc=``).
        """
        query = urlencode({"to": to, "from": from_addr, "mode": "insecure", **params}, safe="@,", quote_via=quote)
        return f"mailto://{self.host}:{self.port}/?{query}"

    def _receive(self, envelope: Any) -> str:
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        # SMTP carries CRLF line ends; parse with "\n" so bodies compare as text.
        message = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        assert isinstance(message, EmailMessage)
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message, raw)
        with self._lock:
            self._messages.append(mail)
        return "250 Message accepted for delivery"


# --------------------------------------------------------------------------
# A stand-in internet for the address guard (monitor.fetch.addresses)
# --------------------------------------------------------------------------


class FakeInternet:
    """Fake DNS and "public" addresses, every connection ending on loopback.

    ``dns(host, *answers)`` sets what a name resolves to; each answer is a
    list of addresses, and successive lookups get successive answers (the
    last repeats), so a name can rebind.  ``route(address, server)`` makes
    connections to ``address`` (any port) reach ``server``.

    Hand ``resolve`` and ``network`` to ``Fetcher``.  The network dials
    loopback addresses as they are and routed addresses to their server;
    anything else fails at once without touching the network.  Each dial is
    recorded in ``dialled`` (the address asked for), and its stream reports
    that address as its peer, as a socket to it would.  A host *name* given
    to the network is looked up through the same fake DNS, as the OS would.
    """

    def __init__(self) -> None:
        self._answers: dict[str, list[list[str]]] = {}
        self._routes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.lookups: list[str] = []
        self.dialled: list[tuple[str, int]] = []
        self.network = _FakeNetwork(self)

    def dns(self, host: str, *answers: list[str]) -> None:
        with self._lock:
            self._answers[host.lower()] = [list(a) for a in answers]

    def route(self, address: str, server: _LoopbackHTTPServer) -> None:
        with self._lock:
            self._routes[address] = server.port

    async def resolve(self, host: str, port: int) -> list[str]:
        with self._lock:
            self.lookups.append(host)
            answers = self._answers.get(host.lower())
            if not answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return answers.pop(0) if len(answers) > 1 else list(answers[0])

    async def dial(self, host: str, port: int, timeout: float | None) -> httpcore.AsyncNetworkStream:
        try:
            address = str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            address = (await self.resolve(host, port))[0]
        with self._lock:
            self.dialled.append((address, port))
            routed = self._routes.get(address)
        real = AsyncioBackend()
        if routed is not None:
            stream = await real.connect_tcp(LOOPBACK, routed, timeout=timeout)
        elif ipaddress.ip_address(address).is_loopback:
            stream = await real.connect_tcp(address, port, timeout=timeout)
        else:
            raise httpcore.ConnectError(f"{address} is not reachable from tests")
        return _PeerStream(stream, (address, port))


class _FakeNetwork(httpcore.AsyncNetworkBackend):
    def __init__(self, internet: FakeInternet) -> None:
        self._internet = internet

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._internet.dial(host, port, timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _PeerStream(httpcore.AsyncNetworkStream):
    """A loopback stream that reports the address it was dialled at as its peer."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, peer: tuple[str, int]) -> None:
        self._stream = stream
        self._peer = peer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _PeerStream(await self._stream.start_tls(ssl_context, server_hostname, timeout), self._peer)

    def get_extra_info(self, info: str) -> Any:
        return self._peer if info == "server_addr" else self._stream.get_extra_info(info)
