"""`monitor serve`: the web dashboard, API, Atom feeds, /healthz and /metrics, without polling."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.cli.common import EXIT_OK, settings_of


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


def cmd_serve(args: argparse.Namespace) -> int:
    from monitor.config.model import WebSettings
    from monitor.web.server import serve

    settings = settings_of(args)
    if args.listen:
        # Validated like web.listen in the config (HOST:PORT).
        WebSettings(listen=args.listen, token=settings.web.token)
    serve(settings, listen=args.listen)
    return EXIT_OK
