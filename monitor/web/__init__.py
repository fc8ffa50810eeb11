"""The web dashboard, JSON API, Atom feeds, /healthz and /metrics (Starlette + Jinja2).

`make_app` builds the ASGI app; `server` runs it with uvicorn, alone
(`monitor serve`) or in a thread of `monitor run` (`web.enabled: true`).
"""

from __future__ import annotations

from monitor.web.app import make_app

__all__ = ["make_app"]
