"""Running the web app with uvicorn: in the foreground (`monitor serve`) or in a thread of `monitor run`.

Both refuse a non-loopback address without `web.token` before binding.
The token never reaches a log line: uvicorn's access log is off (it would
print query strings), and our own lines name only the address.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

import uvicorn

from monitor.config import Settings
from monitor.errors import MonitorError
from monitor.node import dashboard_name
from monitor.runtime import RuntimeStatus
from monitor.store.engine import Engine
from monitor.web.app import make_app
from monitor.web.security import check_listen

log = logging.getLogger(__name__)
START_TIMEOUT = 10.0


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def make_server(
    settings: Settings,
    *,
    engine: Engine | None = None,
    status: RuntimeStatus | None = None,
    listen: str | None = None,
    current: Callable[[], Settings] | None = None,
    node: str | None = None,
) -> uvicorn.Server:
    """`node`: the name /healthz gives this process (default: `monitor.node.dashboard_name`)."""
    check_listen(settings.web, listen)
    host, port = split_listen(listen or settings.web.listen)
    app = make_app(settings, engine=engine, status=status, current=current, listen=listen, node=node)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(settings: Settings, *, listen: str | None = None) -> None:
    """`monitor serve`: run until SIGINT/SIGTERM (uvicorn's own handlers stop it cleanly).

    A dashboard-only process: /healthz names it `serve HOST:PID` (or `cluster.node_name`).
    """
    server = make_server(settings, listen=listen, node=dashboard_name(settings))
    log.info("web dashboard on http://%s:%d/ (no scheduler in this process)", server.config.host, server.config.port)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind
        raise MonitorError(f"web: could not listen on {server.config.host}:{server.config.port}") from None
    if not server.started:
        raise MonitorError(f"web: could not listen on {server.config.host}:{server.config.port}")


class WebThread:
    """The web server in a daemon thread of `monitor run`; `stop()` shuts it down."""

    def __init__(self, server: uvicorn.Server) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.run, name="web", daemon=True)

    def start(self) -> WebThread:
        self.thread.start()
        waited = threading.Event()
        while not self.server.started and self.thread.is_alive():
            waited.wait(0.02)
        if not self.server.started:
            raise MonitorError(f"web: could not listen on {self.server.config.host}:{self.server.config.port}")
        log.info("web dashboard on http://%s:%d/", self.server.config.host, self.server.config.port)
        return self

    @property
    def url(self) -> str:
        """The dashboard's address as others may reach it (the host's name for an any-address bind)."""
        host, port = self.server.config.host, self.server.config.port
        if self.server.started and self.server.servers and self.server.servers[0].sockets:
            port = self.server.servers[0].sockets[0].getsockname()[1]  # the port bound, for listen port 0
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_in_thread(
    settings: Settings,
    engine: Engine,
    status: RuntimeStatus,
    current: Callable[[], Settings] | None = None,
    *,
    node: str | None = None,
) -> WebThread:
    """The server in a thread of `monitor run`; `current` gives the settings after a reload,
    `node` the daemon's node name (for /healthz and `monitor_leases_held`)."""
    return WebThread(make_server(settings, engine=engine, status=status, current=current, node=node)).start()
