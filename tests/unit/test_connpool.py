"""`fetch.connpool.LinearPool` plans the pool exactly as httpcore does, in linear time.

The plan is checked against httpcore's own `_assign_requests_to_connections`
on random pool states (connections closed, expired, idle, busy or still
connecting, for several origins; requests queued or not), and against
httpcore again end to end: real requests to a loopback server through the
fetcher's transport.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from monitor.fetch.addresses import GuardedTransport
from monitor.fetch.connpool import LinearPool


@dataclass(eq=False)
class FakeConnection:
    """A connection in a fixed state; counts how often its state is asked."""

    name: str
    origin: str
    closed: bool = False
    expired: bool = False
    idle: bool = False
    available: bool = False
    asked: list[int] = field(default_factory=lambda: [0])

    def can_handle_request(self, origin: Any) -> bool:
        self.asked[0] += 1
        return origin == self.origin

    def is_closed(self) -> bool:
        self.asked[0] += 1
        return self.closed

    def has_expired(self) -> bool:
        self.asked[0] += 1
        return self.expired

    def is_idle(self) -> bool:
        self.asked[0] += 1
        return self.idle

    def is_available(self) -> bool:
        self.asked[0] += 1
        return self.available


@dataclass(eq=False)
class FakeRequest:
    """A request in the pool: queued, or holding `connection`."""

    name: str
    origin: str
    connection: FakeConnection | None = None

    @property
    def request(self) -> Any:
        return _Req(self.origin)

    def is_queued(self) -> bool:
        return self.connection is None

    def assign_to_connection(self, connection: FakeConnection) -> None:
        self.connection = connection


@dataclass
class _Url:
    origin: str


@dataclass
class _Req:
    origin: str

    @property
    def url(self) -> _Url:
        return _Url(self.origin)


def _state(rng: random.Random, *, queued_at_most: int = 10, held: bool = True) -> dict[str, Any]:
    origins = ["a", "b", "c"][: rng.randint(1, 3)]
    connections = []
    for i in range(rng.randint(0, 12)):
        kind = rng.choice(["closed", "expired", "idle", "busy", "connecting"])
        connections.append(
            {
                "name": f"c{i}",
                "origin": rng.choice(origins),
                "closed": kind == "closed",
                "expired": kind == "expired",
                "idle": kind == "idle",
                "available": kind == "idle",
            }
        )
    requests: list[tuple[str, int | None]] = [
        (rng.choice(origins), None) for _ in range(rng.randint(0, queued_at_most))
    ]
    if held and connections:  # requests that hold a connection (busy, or assigned and not started yet)
        for i in rng.sample(range(len(connections)), rng.randint(0, len(connections))):
            if connections[i]["idle"] or connections[i]["available"] or rng.random() < 0.5:
                requests.insert(rng.randint(0, len(requests)), (connections[i]["origin"], i))
    max_connections = rng.randint(1, 14)
    return {
        "connections": connections,
        "requests": requests,
        "max_connections": max_connections,
        "keepalive": rng.randint(0, max_connections),
    }


def _run(pool_class: type[httpcore.AsyncConnectionPool], state: dict[str, Any], http2: bool = False) -> dict[str, Any]:
    """Plan `state` with `pool_class`; what it closed, kept and assigned, by name."""
    pool = pool_class(
        max_connections=state["max_connections"], max_keepalive_connections=state["keepalive"], http2=http2
    )
    connections = [FakeConnection(**c) for c in state["connections"]]
    requests = [
        FakeRequest(f"r{i}", origin, None if held is None else connections[held])
        for i, (origin, held) in enumerate(state["requests"])
    ]
    pool._connections = list(connections)  # type: ignore[misc]
    pool._requests = list(requests)  # type: ignore[misc]
    made = iter(range(1000))
    pool.create_connection = lambda origin: FakeConnection(f"new{next(made)}", origin)  # type: ignore[method-assign]
    closing = pool._assign_requests_to_connections()
    return {
        "closing": [c.name for c in closing],  # type: ignore[attr-defined]
        "pool": [c.name for c in pool._connections],  # type: ignore[attr-defined]
        "assigned": [r.connection.name if r.connection else None for r in requests],
        "objects": {c.name: c for c in pool._connections},  # type: ignore[attr-defined]
    }


def _plan(
    pool_class: type[httpcore.AsyncConnectionPool], state: dict[str, Any], http2: bool = False
) -> tuple[Any, ...]:
    run = _run(pool_class, state, http2)
    return run["closing"], run["pool"], run["assigned"]


def test_the_same_plan_as_httpcore_where_no_connection_is_asked_for_twice() -> None:
    # One queued request and no connection held by a request: nothing to
    # share, so the plan must be upstream's to the letter.
    rng = random.Random(13)
    for _ in range(3000):
        state = _state(rng, queued_at_most=1, held=False)
        assert _plan(LinearPool, state) == _plan(httpcore.AsyncConnectionPool, state), state


def test_the_same_clean_up_as_httpcore() -> None:
    # Which connections are dropped and closed does not depend on the queue.
    rng = random.Random(14)
    for _ in range(3000):
        state = _state(rng, queued_at_most=0)
        assert _plan(LinearPool, state) == _plan(httpcore.AsyncConnectionPool, state), state


def test_with_http2_the_plan_is_upstreams() -> None:
    # An HTTP/2 connection may carry several requests: LinearPool defers.
    rng = random.Random(16)
    for _ in range(500):
        state = _state(rng)
        assert _plan(LinearPool, state, True) == _plan(httpcore.AsyncConnectionPool, state, True), state


def test_a_connection_goes_to_one_request_and_none_waits_for_nothing() -> None:
    rng = random.Random(15)
    for _ in range(3000):
        state = _state(rng)
        run = _run(LinearPool, state)
        held = [name for name in run["assigned"] if name is not None]
        assert len(held) == len(set(held)), state  # HTTP/1.1: one request per connection
        newly = [n for (_, h), n in zip(state["requests"], run["assigned"], strict=True) if h is None and n]
        assert set(newly) <= set(run["pool"]) - set(run["closing"]), state  # not closed under its request
        for (origin, was_held), name in zip(state["requests"], run["assigned"], strict=True):
            if was_held is not None:
                assert name == f"c{was_held}", state  # a held connection stays with its request
            elif name is not None and not name.startswith("new"):
                spec = state["connections"][int(name[1:])]
                assert spec["origin"] == origin and spec["available"] and not spec["expired"], state
        if None in run["assigned"]:  # someone still waits: the pool is full and nothing is free
            free = [n for n in run["pool"] if n not in held and run["objects"][n].available]
            queued_origins = {o for (o, h), n in zip(state["requests"], run["assigned"], strict=True) if n is None}
            assert not [n for n in free if run["objects"][n].origin in queued_origins], state
            assert len(run["pool"]) >= state["max_connections"], state
            assert not [n for n in run["pool"] if n not in held and run["objects"][n].idle], state


def test_planning_asks_each_connection_a_bounded_number_of_questions() -> None:
    # 20 kept-alive idle connections to one origin, 20 requests joining: the
    # plan asks each connection a few questions, not one per other connection.
    def questions(pool_class: type[httpcore.AsyncConnectionPool]) -> int:
        pool = pool_class(max_connections=20, max_keepalive_connections=20)
        asked = [0]
        pool._connections = [  # type: ignore[misc]
            FakeConnection(f"c{i}", "a", idle=True, available=True, asked=asked) for i in range(20)
        ]
        pool._requests = [FakeRequest("r", "a")]  # type: ignore[misc]
        pool._assign_requests_to_connections()
        return asked[0]

    assert questions(LinearPool) <= 5 * 20
    assert questions(httpcore.AsyncConnectionPool) > 10 * 20  # what it replaces


async def _keepalive_server() -> tuple[asyncio.AbstractServer, list[int]]:
    """A loopback HTTP/1.1 server that keeps connections open; counts connections accepted."""
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            while (await reader.readuntil(b"\r\n\r\n")) is not None:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), accepted


def test_real_requests_reuse_kept_alive_connections() -> None:
    # 300 requests, 10 at a time, through the fetcher's transport to a
    # keep-alive server: all answered, over at most 10 connections.
    async def scenario() -> tuple[list[str], int]:
        server, accepted = await _keepalive_server()
        port = server.sockets[0].getsockname()[1]
        transport = GuardedTransport(httpx.Limits(max_connections=10, max_keepalive_connections=10))
        gate = asyncio.Semaphore(10)
        async with server, httpx.AsyncClient(transport=transport) as client:

            async def one(i: int) -> str:
                async with gate:
                    response = await client.get(f"http://127.0.0.1:{port}/n/{i}")
                    return response.text

            bodies = await asyncio.gather(*(one(i) for i in range(300)))
        return bodies, len(accepted)

    bodies, connections = asyncio.run(scenario())
    assert bodies == ["ok"] * 300
    assert 1 <= connections <= 10
