"""Who may use the web app, and CSRF protection for its forms.

- Bound to a loopback address: no login. Anywhere else: `web.token` is
  required (the server refuses to start without it).
- With a token, every request but /healthz, /login and /static needs
  `Authorization: Bearer <token>` or the session cookie set by the login
  form (HttpOnly, SameSite=Strict; its value is an HMAC of the token, never
  the token). Tokens are compared with `hmac.compare_digest`.
- Every POST carries a CSRF token (double submit: the `monitor_csrf` cookie,
  HttpOnly and SameSite=Strict, must equal the form's `csrf` field).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from monitor.config import WebSettings
from monitor.config.loading import is_loopback_host
from monitor.errors import ConfigError

SESSION_COOKIE = "monitor_session"
CSRF_COOKIE = "monitor_csrf"
CSRF_FIELD = "csrf"
PUBLIC_PREFIXES = ("/healthz", "/login", "/static/")


def check_listen(web: WebSettings, listen: str | None = None) -> None:
    """Refuse a non-loopback bind without a token (raises ConfigError)."""
    host = (listen or web.listen).rpartition(":")[0]
    if not is_loopback_host(host) and not web.token:
        raise ConfigError(["web.token: required when web.listen is not a loopback address"])


class Guard:
    """Token checks for one app (no token: everything is open, on loopback)."""

    def __init__(self, token: str | None) -> None:
        self._token = str(token).encode() if token else None
        self._session = (
            hmac.new(self._token, b"monitor web session", hashlib.sha256).hexdigest() if self._token else None
        )

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def bearer_ok(self, header: str | None) -> bool:
        if self._token is None:
            return True
        if not header or not header.lower().startswith("bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self._token)

    def session_ok(self, cookie: str | None) -> bool:
        if self._session is None:
            return True
        return bool(cookie) and hmac.compare_digest(str(cookie).encode(), self._session.encode())

    def token_ok(self, given: str | None) -> bool:
        return self._token is not None and bool(given) and hmac.compare_digest(str(given).encode(), self._token)

    def session_value(self) -> str:
        assert self._session is not None
        return self._session


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(cookie: str | None, field: str | None) -> bool:
    return bool(cookie) and bool(field) and hmac.compare_digest(str(cookie).encode(), str(field).encode())


def is_public(path: str) -> bool:
    return path == "/healthz" or path == "/login" or path.startswith("/static/")
