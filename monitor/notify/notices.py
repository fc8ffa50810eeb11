"""Operational notices: what the admin channel is told about a feed, and when.

Pure: from a feed's failure decision (or its recovery) to the `Notice` to
queue, or None. The poll cycle queues it in the transaction that records
the feed's state; the dispatcher sends it like any outbox row (retries,
restarts). Its key names the episode (the feed and when it started
failing), so the same news is queued once, whichever process records it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.core.polling import Decision
from monitor.models import FeedRequest, Notice

__all__ = ["failing_notice", "recovered_notice"]


def failing_notice(
    channel: str | None,
    request: FeedRequest,
    decision: Decision,
    reason: str,
    now: datetime,
    alert_after: float,
) -> Notice | None:
    """The notice that a feed is disabled, or has failed for `alert_after`
    seconds; None if there is no admin channel, it was told already, or
    the failure is young."""
    since = decision.failing_since
    if not channel or request.admin_alerted or since is None:
        return None
    if not decision.disable_reason and since > now - timedelta(seconds=alert_after):
        return None
    what = decision.disable_reason or f"failing since {since:%Y-%m-%d %H:%M} UTC ({decision.failures} polls)"
    subject = f"monitor: feed {request.name!r} is {'disabled' if decision.disable_reason else 'failing'}"
    body = f"{subject}\n{request.url}\n{what}\nLast error: {reason}"
    return Notice(channel, f"feed:{request.feed_id}:failing:{since.isoformat()}", subject, body)


def recovered_notice(channel: str | None, request: FeedRequest) -> Notice | None:
    """The notice that a feed the admin channel was told about answers again."""
    if not channel or not request.admin_alerted:
        return None
    subject = f"monitor: feed {request.name!r} recovered"
    body = f"{subject}\n{request.url}\nIt answers again after {request.failures} failed polls."
    since = request.failing_since.isoformat() if request.failing_since else "unknown"
    return Notice(channel, f"feed:{request.feed_id}:recovered:{since}", subject, body)
