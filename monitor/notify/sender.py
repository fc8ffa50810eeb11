"""The apprise adapter: send one message to one URL and report the outcome.

apprise is called once per destination URL so each gets its own outcome, and
its log is captured during the send so a failure carries the provider's
reason (with secrets scrubbed) instead of a bare False.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import apprise

from monitor.notify.redact import privacy_url, scrub
from monitor.notify.render import DEFAULT_LIMITS, Limits, Medium, Message, medium_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    reason: str = ""


class Notifier:
    """Sends rendered messages through apprise."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.asset = apprise.AppriseAsset(app_id="monitor", app_desc="monitor news alerts")
        self.timeout = timeout

    def send(self, url: str, message: Message) -> SendResult:
        shown = privacy_url(url)
        try:
            plugin = apprise.Apprise.instantiate(url, asset=self.asset, suppress_exceptions=True)
        except Exception as exc:  # noqa: BLE001
            return SendResult(False, scrub(f"invalid notification URL {shown}: {exc}", [url]))
        if plugin is None:
            return SendResult(False, f"invalid or unsupported notification URL {shown}")
        for attr in ("socket_connect_timeout", "socket_read_timeout"):
            if hasattr(plugin, attr):
                setattr(plugin, attr, self.timeout)
        body_format = _FORMATS.get(message.body_format, apprise.NotifyFormat.TEXT)
        with apprise.LogCapture(level=logging.WARNING) as captured:
            try:
                ok = plugin.notify(body=message.body, title=message.title, body_format=body_format)
            except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the dispatcher
                return SendResult(False, scrub(f"{type(exc).__name__}: {exc}", [url]))
            logged = captured.getvalue() if hasattr(captured, "getvalue") else ""
        if ok:
            return SendResult(True)
        reason = _last_reason(logged) or "the service refused the message"
        return SendResult(False, scrub(reason, [url]))


_FORMATS = {
    "text": apprise.NotifyFormat.TEXT,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    # Email: apprise sends multipart/alternative, text/plain derived from the HTML.
    "html": apprise.NotifyFormat.HTML,
}


def limits_for(url: str, medium: Medium | None = None) -> Limits:
    """The medium's default limits narrowed to the apprise plugin's own.

    `body_maxlen`/`title_maxlen` are what apprise would otherwise cut or
    split at; cutting before rendering keeps markup whole. Email keeps its
    generous default (apprise does not cut mail bodies). A plugin without
    titles (title_maxlen 0) gets the title folded into the body: room is kept.
    """
    medium = medium or medium_for(url)
    default = DEFAULT_LIMITS[medium]
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - an unusable URL fails at send time, with a reason
        plugin = None
    if plugin is None or medium is Medium.EMAIL:
        return default
    body_max = int(getattr(plugin, "body_maxlen", 0) or 0)
    title_max = int(getattr(plugin, "title_maxlen", 0) or 0)
    title = min(default.title, title_max) if title_max > 0 else default.title
    if body_max > 0 and (title_max <= 0 or getattr(plugin, "overflow_amalgamate_title", False)):
        body_max = max(body_max - title - 2, 100)  # the title shares the body's room
    return Limits(title, min(default.body, body_max) if body_max > 0 else default.body)


def _last_reason(logged: str) -> str:
    lines = [line.split(" - ", 2)[-1].strip() for line in logged.splitlines() if line.strip()]
    return "; ".join(lines[-3:])[:500]
