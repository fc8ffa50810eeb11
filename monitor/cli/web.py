"""`monitor serve` (the web dashboard, API, Atom feeds, /healthz and /metrics,
without polling) and `monitor healthcheck` (asks a running daemon's /healthz)."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.cli.common import EXIT_CONFIG, EXIT_OK, settings_of

EXIT_UNHEALTHY = 1


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the web dashboard and API (no polling; `monitor run` with web.enabled does both)",
        description=(
            "Serve the dashboard, the JSON API (/api/), Atom feeds (/feeds/*.atom), /healthz and /metrics "
            "on web.listen (default 127.0.0.1:8080). A non-loopback address needs web.token."
        ),
    )
    p.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default: web.listen)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "healthcheck",
        parents=[common],
        help="ask the running daemon's /healthz; exit 0 if healthy, 1 if not (for Docker and systemd)",
        description=(
            "GET /healthz on web.listen (an any-address bind is asked on loopback). Prints the reason "
            "and exits 1 when the daemon answers 503 or not at all; exits 2 when web.enabled is false."
        ),
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only when unhealthy")
    p.set_defaults(func=cmd_healthcheck)


def cmd_serve(args: argparse.Namespace) -> int:
    from monitor.config.model import WebSettings
    from monitor.web.server import serve

    settings = settings_of(args)
    if args.listen:
        # Validated like web.listen in the config (HOST:PORT).
        WebSettings(listen=args.listen, token=settings.web.token)
    serve(settings, listen=args.listen)
    return EXIT_OK


def cmd_healthcheck(args: argparse.Namespace) -> int:
    import httpx

    settings = settings_of(args)
    if not settings.web.enabled:
        print("web.enabled is false: /healthz is served by `monitor run` only with the web server on")
        return EXIT_CONFIG
    host = settings.web.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1" if host != "::" else "::1"
    url = f"http://{'[' + host + ']' if ':' in host else host}:{settings.web.port}/healthz"
    try:
        response = httpx.get(url, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(f"unhealthy: {url}: {type(exc).__name__}: {exc}")
        return EXIT_UNHEALTHY
    if response.status_code == 200:
        if not args.quiet:
            print(f"healthy: {url}")
        return EXIT_OK
    try:
        reasons = "; ".join(response.json().get("reasons", [])) or response.text
    except ValueError:
        reasons = response.text
    print(f"unhealthy ({response.status_code}): {reasons}")
    return EXIT_UNHEALTHY
