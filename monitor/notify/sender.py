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
from monitor.notify.render import Message

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
        body_format = (
            apprise.NotifyFormat.MARKDOWN
            if message.body_format == "markdown"
            else apprise.NotifyFormat.TEXT
        )
        with apprise.LogCapture(level=logging.WARNING) as captured:
            try:
                ok = plugin.notify(
                    body=message.body, title=message.title, body_format=body_format
                )
            except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the dispatcher
                return SendResult(False, scrub(f"{type(exc).__name__}: {exc}", [url]))
            logged = captured.getvalue() if hasattr(captured, "getvalue") else ""
        if ok:
            return SendResult(True)
        reason = _last_reason(logged) or "the service refused the message"
        return SendResult(False, scrub(reason, [url]))


def _last_reason(logged: str) -> str:
    lines = [line.split(" - ", 2)[-1].strip() for line in logged.splitlines() if line.strip()]
    return "; ".join(lines[-3:])[:500]
