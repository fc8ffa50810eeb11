"""Keyset pagination of newest-first lists: the cursor and the condition it stands for.

A list sorted by (time, id), newest first, is paged by the last item's time
and id (`Cursor`), so a deep page costs what the first one does. The cursor
is opaque to clients (URL-safe base64); one this server did not make is
`BadCursor`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_

# Ids are INTEGER columns: 32-bit on PostgreSQL (and no SQLite database gets past that);
# a larger id names no row, and the database must not be asked about it.
MAX_ID = 2**31 - 1
# The longest page a client may ask for.
MAX_LIMIT = 200
T = TypeVar("T")


class BadCursor(ValueError):
    """A cursor that this server did not make."""


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first list: the last item's time and id."""

    at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.at.astimezone(UTC).isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at, _, ident = raw.rpartition("|")
            when = datetime.fromisoformat(at)
            if when.tzinfo is None:
                raise ValueError("naive time")
            ident_value = int(ident)
            if not 0 <= ident_value <= MAX_ID:
                raise ValueError("id out of range")
            return cls(when.astimezone(UTC), ident_value)
        except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
            raise BadCursor(f"invalid cursor {value[:40]!r}") from None

    def older(self, at: Any, ident: Any) -> ColumnElement[bool]:
        """Rows after this cursor in (at, ident) newest-first order.

        `at <= cursor` first: a plain range the (…, at, id) indexes serve.
        """
        return and_(at <= self.at, or_(at < self.at, and_(at == self.at, ident < self.id)))


def split_page(items: Sequence[T], limit: int, position: Callable[[T], Cursor]) -> tuple[list[T], str | None]:
    """A page of `items` (fetched `limit + 1` to know whether more follow) and the next page's cursor
    (None on the last page); `position` gives an item's place in the list."""
    shown = list(items[:limit])
    return shown, position(shown[-1]).encode() if len(items) > limit and shown else None


__all__ = ["MAX_ID", "MAX_LIMIT", "BadCursor", "Cursor", "split_page"]
