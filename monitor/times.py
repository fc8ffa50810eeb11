"""Time as every layer writes it: aware UTC inside, ISO 8601 with `Z` outside.

Owns the one `utcnow` (the default clock; tests pass their own) and the one
`iso` used by the CLI's JSON, the API, Atom and /healthz, so they cannot
disagree on a timestamp's form.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso", "utcnow"]


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z` (None stays None)."""
    return value.isoformat().replace("+00:00", "Z") if value else None
