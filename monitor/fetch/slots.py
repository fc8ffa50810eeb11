"""A counting semaphore for the fetch loop whose every operation is O(1).

`asyncio.Semaphore` (3.11) decides whether to wait by scanning all its
waiters (`locked()` asks whether any is not cancelled), so a thousand feeds
of one host queued on that host's slots cost a million steps per cycle —
the fetch thread's largest item in a polling profile. `Slots` keeps the
waiters in a FIFO and hands a released slot straight to the first live one.
Loop-bound like asyncio's primitives: use it from one event loop only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

__all__ = ["Slots"]


class Slots:
    """`value` slots; `async with slots:` holds one. First come, first served."""

    def __init__(self, value: int) -> None:
        if value < 1:
            raise ValueError("Slots needs at least one slot")
        self._free = value
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        """Slots nobody holds."""
        return self._free

    @property
    def waiting(self) -> int:
        """Waiters still queued (cancelled ones leave when reached)."""
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        if self._free and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Give a slot back: to the first live waiter, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
