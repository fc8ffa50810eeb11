"""Who may use the web app: Host names, tokens, sessions, sign-in throttling, CSRF.

- Host header (DNS rebinding): only the listen host, `localhost`,
  `127.0.0.1`, `[::1]` and `web.allowed_hosts` are answered, on any port;
  any other name gets 400, /healthz included. A page on another site that
  rebinds its name to 127.0.0.1 therefore cannot read or post to us.
- Bound to a loopback address: no login. Anywhere else: `web.token` is
  required (the server refuses to start without it), of at least
  `MIN_TOKEN_LENGTH` characters.
- With a token, every request but /healthz, /login and /static needs
  `Authorization: Bearer <token>` or the session cookie set by the login
  form (HttpOnly, SameSite=Strict). Tokens are compared with
  `hmac.compare_digest`. Failed sign-ins and wrong bearer tokens are
  throttled per client (`throttle`): 429 with Retry-After.
- Sessions are random (`secrets.token_urlsafe`), expire `web.session_lifetime`
  after sign-in (absolute, not sliding) and end at logout. The session table
  is in memory: a restart (or a second process) signs everyone out.
- Every POST carries a CSRF token (double submit: the `monitor_csrf` cookie,
  HttpOnly and SameSite=Strict, must equal the form's `csrf` field).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.config import WebSettings
from monitor.config.loading import is_loopback_host
from monitor.config.model import MIN_TOKEN_LENGTH, normal_host
from monitor.errors import ConfigError
from monitor.web.throttle import FailureThrottle

SESSION_COOKIE = "monitor_session"
CSRF_COOKIE = "monitor_csrf"
CSRF_FIELD = "csrf"
PUBLIC_PREFIXES = ("/healthz", "/login", "/static/")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
MAX_SESSIONS = 1000


def check_listen(web: WebSettings, listen: str | None = None) -> None:
    """Refuse a non-loopback bind without a token, and a short token (raises ConfigError)."""
    host = (listen or web.listen).rpartition(":")[0]
    if not is_loopback_host(host) and not web.token:
        raise ConfigError(["web.token: required when web.listen is not a loopback address"])
    if web.token and len(str(web.token)) < MIN_TOKEN_LENGTH:
        raise ConfigError([f"web.token: must be at least {MIN_TOKEN_LENGTH} characters"])


# --- Host header ---------------------------------------------------------------


def allowed_hosts(web: WebSettings, listen: str | None = None) -> frozenset[str]:
    """The Host names answered: loopback names, the listen host and `web.allowed_hosts`."""
    names = set(LOOPBACK_NAMES) | set(web.allowed_hosts)
    try:
        names.add(normal_host((listen or web.listen).rpartition(":")[0]))
    except ValueError:
        pass
    return frozenset(names)


def host_name(header: str | None) -> str | None:
    """The host of a Host header, port dropped, in `normal_host` form; None if it is not one."""
    if not header:
        return None
    value = header.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not _port(value[end + 1 :])):
            return None
        value = value[: end + 1]
    elif value.count(":") == 1:
        value, _, port = value.partition(":")
        if not _port(":" + port):
            return None
    try:
        return normal_host(value)
    except ValueError:
        return None


def _port(text: str) -> bool:
    return text.startswith(":") and text[1:].isascii() and text[1:].isdigit() and len(text) <= 6


# --- sessions ------------------------------------------------------------------


class Sessions:
    """Signed-in browsers: random ids, each valid for `lifetime` from sign-in or until logout.

    Only a hash of each id is kept (a lookup leaks no timing about the id).
    In memory, so a restart signs everyone out; at most `limit` sessions,
    beyond which the one expiring soonest is dropped.
    """

    def __init__(self, lifetime: timedelta, clock: Callable[[], datetime], limit: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.limit = limit
        self._expires: dict[bytes, datetime] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        """A new session id (the cookie's value)."""
        session = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            for key in [k for k, expires in self._expires.items() if expires <= now]:
                del self._expires[key]
            while len(self._expires) >= self.limit:
                del self._expires[min(self._expires, key=self._expires.__getitem__)]
            self._expires[_digest(session)] = now + self.lifetime
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        with self._lock:
            expires = self._expires.get(_digest(session))
            if expires is None:
                return False
            if expires <= self.clock():
                del self._expires[_digest(session)]
                return False
            return True

    def end(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._expires.pop(_digest(session), None)

    def __len__(self) -> int:
        return len(self._expires)


def _digest(session: str) -> bytes:
    return hashlib.sha256(session.encode("utf-8", "surrogatepass")).digest()


# --- tokens --------------------------------------------------------------------


class Guard:
    """Token, session and throttle checks for one app (no token: everything is open, on loopback)."""

    def __init__(self, web: WebSettings, clock: Callable[[], datetime]) -> None:
        self._token = str(web.token).encode() if web.token else None
        self.sessions = Sessions(timedelta(seconds=web.session_lifetime), clock)
        self.throttle = FailureThrottle(lambda: clock().timestamp())

    @property
    def enabled(self) -> bool:
        return self._token is not None

    @property
    def session_seconds(self) -> int:
        return int(self.sessions.lifetime.total_seconds())

    def bearer(self, header: str | None) -> bool | None:
        """Whether an Authorization header carries the token; None when it carries no bearer token."""
        if not header or header[:7].lower() != "bearer ":
            return None
        return self.token_ok(header[7:].strip())

    def session_ok(self, cookie: str | None) -> bool:
        return self._token is None or self.sessions.valid(cookie)

    def token_ok(self, given: str | None) -> bool:
        return (
            self._token is not None
            and bool(given)
            and hmac.compare_digest(str(given).encode("utf-8", "surrogatepass"), self._token)
        )


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(cookie: str | None, field: str | None) -> bool:
    return (
        bool(cookie)
        and bool(field)
        and hmac.compare_digest(
            str(cookie).encode("utf-8", "surrogatepass"), str(field).encode("utf-8", "surrogatepass")
        )
    )


def is_public(path: str) -> bool:
    return path == "/healthz" or path == "/login" or path.startswith("/static/")
