"""The few exception types monitor raises across its layers.

Library exceptions are translated into these at the edge that calls the
library, so callers never need to know httpx, feedparser or apprise.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error monitor raises on purpose."""


class ConfigError(MonitorError):
    """A configuration file that cannot be used; `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class FetchError(MonitorError):
    """A feed could not be fetched or read as a feed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")
