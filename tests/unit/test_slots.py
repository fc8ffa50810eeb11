"""`fetch.slots.Slots`: a FIFO counting semaphore, safe under cancellation (its cost is bench/poll.py's)."""

from __future__ import annotations

import asyncio

import pytest

from monitor.fetch.slots import Slots


def test_at_most_value_holders_first_come_first_served() -> None:
    async def scenario() -> tuple[int, list[int]]:
        slots = Slots(2)
        holding = peak = 0
        order: list[int] = []
        gates = [asyncio.Event() for _ in range(6)]

        async def user(i: int) -> None:
            nonlocal holding, peak
            async with slots:
                order.append(i)
                holding += 1
                peak = max(peak, holding)
                await gates[i].wait()
                holding -= 1

        tasks = [asyncio.create_task(user(i)) for i in range(6)]
        await asyncio.sleep(0)
        for i in range(6):  # let them go one at a time, in order
            while i not in order:
                await asyncio.sleep(0)
            gates[i].set()
        await asyncio.gather(*tasks)
        assert slots.free == 2 and slots.waiting == 0
        return peak, order

    peak, order = asyncio.run(scenario())
    assert peak == 2 and order == [0, 1, 2, 3, 4, 5]


def test_a_cancelled_waiter_loses_no_slot() -> None:
    async def scenario() -> int:
        slots = Slots(1)
        await slots.acquire()
        waiter = asyncio.create_task(slots.acquire())
        other = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        waiter.cancel()  # cancelled while queued
        slots.release()  # goes past it, to `other`
        await other
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # Handed a slot and cancelled before it ran: the slot is passed on.
        third = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        slots.release()
        third.cancel()
        with pytest.raises(asyncio.CancelledError):
            await third
        return slots.free

    assert asyncio.run(scenario()) == 1


def test_no_slot_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Slots(0)
