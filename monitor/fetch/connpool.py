"""httpcore's connection pool, planned in linear time and without a retry storm.

httpcore (1.0.x) re-plans its whole pool whenever a request joins or a
response closes, in `AsyncConnectionPool._assign_requests_to_connections`.
Two things there cost the fetcher most of its CPU on a cycle of 304s:

* the plan is quadratic: for every connection it counts all connections by
  building a list of them, and for every queued request it lists the
  available and idle connections again;
* it hands the first available connection to every queued request, and
  every request that joins before the first of them has started on it is
  given it too; all but one then fail (ConnectionNotAvailable) and plan
  again. With 20 requests in flight that was 4.5 plans per request.

`LinearPool` plans in one pass over the connections plus one step per
queued request, and gives a connection that a request already holds to no
other (HTTP/1.1: one request per connection; with HTTP/2 enabled it defers
to upstream). Dropping closed connections, closing expired ones and idle
ones beyond the keep-alive limit, and which connection a request gets
otherwise, are upstream's rules: `tests/unit/test_connpool.py` checks them
against upstream's own method on random pool states. It overrides a
private method, so pyproject.toml pins httpcore to 1.0.x and
`check_httpcore` fails loudly if the method is gone.
"""

from __future__ import annotations

from typing import Any

import httpcore
from httpcore import AsyncConnectionInterface


def check_httpcore() -> None:
    """Raise TypeError if httpcore no longer plans its pool in the method `LinearPool` replaces."""
    if not callable(getattr(httpcore.AsyncConnectionPool, "_assign_requests_to_connections", None)):
        raise TypeError("this httpcore version has no AsyncConnectionPool._assign_requests_to_connections")


class LinearPool(httpcore.AsyncConnectionPool):
    """An httpcore pool whose planning is O(connections + queued requests) and hands out each connection once."""

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        if self._http2:  # a connection may then carry several requests at once
            return super()._assign_requests_to_connections()
        closing: list[AsyncConnectionInterface] = []
        kept: list[AsyncConnectionInterface] = []
        # Upstream counts every connection still in the pool (not only the
        # idle ones) against the keep-alive limit, dropping as it goes.
        count = len(self._connections)
        for connection in self._connections:
            if connection.is_closed():
                count -= 1
            elif connection.has_expired() or (count > self._max_keepalive_connections and connection.is_idle()):
                count -= 1
                closing.append(connection)
            else:
                kept.append(connection)
        self._connections[:] = kept

        # A connection already assigned to a request (that request's task has
        # not started on it yet, or is using it) is not offered again: upstream
        # would give one connection to every request that asks before the
        # first of them starts, and all but one then fail and plan again.
        claimed = {id(r.connection) for r in self._requests if r.connection is not None}
        available = [c for c in kept if id(c) not in claimed and c.is_available()]
        idle: list[AsyncConnectionInterface] | None = None
        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            found = _take_first_for(available, origin)
            if found is not None:
                connection = found
                if idle is not None and connection in idle:
                    idle.remove(connection)
            else:
                if len(self._connections) >= self._max_connections:
                    if idle is None:
                        idle = [c for c in self._connections if id(c) not in claimed and c.is_idle()]
                    if not idle:
                        continue
                    closed = idle.pop(0)
                    self._connections.remove(closed)
                    if closed in available:
                        available.remove(closed)
                    closing.append(closed)
                connection = self.create_connection(origin)
                self._connections.append(connection)
            claimed.add(id(connection))
            pool_request.assign_to_connection(connection)
        return closing


def _take_first_for(connections: list[AsyncConnectionInterface], origin: Any) -> AsyncConnectionInterface | None:
    """Remove and return the first of `connections` that serves `origin` (None if none does)."""
    for i, connection in enumerate(connections):
        if connection.can_handle_request(origin):
            return connections.pop(i)
    return None
