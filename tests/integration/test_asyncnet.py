"""The asyncio network backend against real sockets on loopback: plain TCP and TLS.

Servers are asyncio servers on 127.0.0.1 started by each test; TLS uses a
throwaway CA from trustme. What is checked is what httpcore relies on: reads
and writes, end of stream, every timeout and error mapped to httpcore's own
exceptions, bounded read-ahead, `is_readable` on an idle connection, and a
whole HTTPS exchange through httpcore's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import httpcore
import pytest
import trustme

from monitor.fetch.asyncnet import HIGH_WATER, AsyncioBackend, AsyncioStream

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LOOPBACK = "127.0.0.1"


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 30))


@contextlib.asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A server on loopback for the block (its port); its connections are closed after it."""
    writers: list[asyncio.StreamWriter] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, LOOPBACK, 0, ssl=tls)
    try:
        async with server:
            yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 5)


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Wait (up to 5 s, yielding to the loop) until `predicate` holds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 5
    while not predicate():
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def read_exactly(stream: httpcore.AsyncNetworkStream, size: int, max_bytes: int = 65536) -> bytes:
    data = bytearray()
    while len(data) < size:
        want = min(max_bytes, size - len(data))
        chunk = await stream.read(want, timeout=5)
        assert chunk, f"end of stream after {len(data)} of {size} bytes"
        assert len(chunk) <= want
        data += chunk
    return bytes(data)


async def http_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 with keep-alive: GET /N answers N bytes of a counting pattern."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            size = int(head.split(b" ", 2)[1].lstrip(b"/") or 0)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + pattern(size))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads (so the client's writes go through) and never answers."""
    await reader.read()  # until the client goes


async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Never reads: the client's writes fill the socket buffers."""
    await asyncio.sleep(30)


async def jam(stream: httpcore.AsyncNetworkStream) -> None:
    """Write to a `deaf` server until a write times out (the kernel's buffers take a few MB first)."""
    with pytest.raises(httpcore.WriteTimeout):
        for _ in range(64):
            await stream.write(b"x" * (4 * 1024 * 1024), timeout=0.2)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    return context


def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


# --- plain TCP ---------------------------------------------------------------


def test_a_request_and_its_answer_on_a_plain_connection() -> None:
    async def main() -> None:
        async with serving(http_handler) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            await stream.write(b"GET /300000 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 300000"
            assert await read_exactly(stream, len(head)) == head
            assert await read_exactly(stream, 4 + 300_000, max_bytes=1000) == b"\r\n\r\n" + pattern(300_000)
            assert stream.get_extra_info("server_addr") == (LOOPBACK, port)
            assert stream.get_extra_info("client_addr")[0] == LOOPBACK
            assert stream.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert stream.get_extra_info("ssl_object") is None
            # An answered request leaves nothing to read: the connection is reusable.
            assert stream.get_extra_info("is_readable") is False
            sock = stream.get_extra_info("socket")
            await stream.aclose()
            assert sock.fileno() == -1

    run(main())


def test_a_silent_server_gives_a_read_timeout() -> None:
    async def main() -> None:
        async with serving(silent) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(1024, timeout=0.2)
            await stream.aclose()

    run(main())


def test_the_servers_close_is_the_end_of_stream_and_makes_an_idle_connection_readable() -> None:
    async def goodbye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with serving(goodbye) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            # Known from state, as httpcore's pool asks before reusing a connection.
            await eventually(lambda: stream.get_extra_info("is_readable"), "the close to be seen")
            assert await read_exactly(stream, 3) == b"bye"
            assert await stream.read(1024, timeout=5) == b""
            assert await stream.read(1024, timeout=5) == b""
            with pytest.raises(httpcore.WriteError):
                await stream.write(b"more", timeout=5)
            await stream.aclose()

    run(main())


def test_read_ahead_is_bounded_while_nobody_reads() -> None:
    size = 8 * 1024 * 1024

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(pattern(size))
        await writer.drain()
        await reader.read()

    async def main() -> None:
        async with serving(flood) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            assert isinstance(stream, AsyncioStream)
            protocol = stream._protocol
            await eventually(lambda: protocol.paused, "reading to pause")
            # One chunk past the mark at most (asyncio reads up to 256 KiB at a time).
            assert HIGH_WATER < protocol.size <= 2 * HIGH_WATER
            assert await read_exactly(stream, size) == pattern(size)
            await stream.aclose()

    run(main())


def test_a_server_that_does_not_read_gives_a_write_timeout() -> None:
    async def main() -> None:
        async with serving(deaf) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            await jam(stream)
            # The unsent megabytes are dropped with the connection: a plain
            # close would wait for a server that never reads.
            sock = stream.get_extra_info("socket")
            await stream.aclose()
            assert sock.fileno() == -1

    run(main())


def test_a_close_cut_short_by_cancellation_still_closes_the_socket() -> None:
    async def main() -> None:
        async with serving(deaf) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            await jam(stream)
            sock = stream.get_extra_info("socket")
            closing = asyncio.ensure_future(stream.aclose())
            await asyncio.sleep(0)  # aclose is under way
            closing.cancel()  # as a fetch's deadline would
            with contextlib.suppress(asyncio.CancelledError):
                await closing
            await eventually(lambda: sock.fileno() == -1, "the socket to close")

    run(main())


def test_a_refused_connect_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]  # nothing listens once it is closed

    async def main() -> None:
        with pytest.raises(httpcore.ConnectError):
            await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)

    run(main())


def test_a_connect_that_outlasts_its_timeout_is_a_connect_timeout() -> None:
    async def main(port: int) -> None:
        with pytest.raises(httpcore.ConnectTimeout):
            await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=0)

    with socket.socket() as listener:  # listening, never accepting
        listener.bind((LOOPBACK, 0))
        listener.listen()
        run(main(listener.getsockname()[1]))


# --- TLS ---------------------------------------------------------------------


def test_https_through_httpcores_pool_reuses_one_connection(ca: trustme.CA) -> None:
    connections = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await http_handler(reader, writer)

    async def main() -> None:
        async with (
            serving(counted, server_tls(ca)) as port,
            httpcore.AsyncConnectionPool(ssl_context=client_tls(ca), network_backend=AsyncioBackend()) as pool,
        ):
            for size in (10, 700_000, 0, 5000):
                response = await pool.request("GET", f"https://localhost:{port}/{size}")
                assert response.status == 200
                assert response.content == pattern(size)
            assert connections == 1
            stream = response.extensions["network_stream"]
            assert stream.get_extra_info("ssl_object").version().startswith("TLS")
            sock = stream.get_extra_info("socket")
            await stream.aclose()
            assert sock.fileno() == -1  # closed when aclose returns

    run(main())


def test_a_certificate_for_another_name_is_a_connect_error(ca: trustme.CA) -> None:
    async def main() -> None:
        async with serving(http_handler, server_tls(ca)) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            with pytest.raises(httpcore.ConnectError, match="certificate"):
                await stream.start_tls(client_tls(ca), server_hostname="elsewhere.example", timeout=5)

    run(main())


def test_a_tls_stream_keeps_its_addresses_after_the_server_closes(ca: trustme.CA) -> None:
    # A redirect with "Connection: close": the fetcher asks where it came from after.
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        async with serving(redirect, server_tls(ca)) as port:
            plain = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            stream = await plain.start_tls(client_tls(ca), server_hostname="localhost", timeout=5)
            await stream.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=5)
            while await stream.read(65536, timeout=5):
                pass
            assert isinstance(stream, AsyncioStream)
            protocol = stream._protocol
            await eventually(lambda: protocol.lost, "the connection to be gone")
            assert stream.get_extra_info("server_addr") == (LOOPBACK, port)
            assert stream.get_extra_info("client_addr")[0] == LOOPBACK
            assert stream.get_extra_info("socket") is not None

    run(main())


def test_a_handshake_on_a_connection_the_server_closed_fails_at_once(ca: trustme.CA) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        async with serving(hang_up) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            await eventually(lambda: stream.get_extra_info("is_readable"), "the close to be seen")
            # Not a ConnectTimeout after waiting out the 20 s.
            with pytest.raises(httpcore.ConnectError, match="closed before the TLS handshake"):
                await stream.start_tls(client_tls(ca), server_hostname="localhost", timeout=20)

    run(main())


def test_a_failed_handshake_leaves_the_connection_closed(ca: trustme.CA) -> None:
    async def main() -> None:
        async with serving(http_handler, server_tls(ca)) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            sock = stream.get_extra_info("socket")
            with pytest.raises(httpcore.ConnectError):
                await stream.start_tls(client_tls(ca), server_hostname="elsewhere.example", timeout=5)
            assert isinstance(stream, AsyncioStream) and stream._protocol.lost  # aclose has nothing to wait for
            await stream.aclose()
            await eventually(lambda: sock.fileno() == -1, "the socket to close")

    run(main())


def test_a_server_that_never_answers_the_handshake_gives_a_connect_timeout(ca: trustme.CA) -> None:
    async def main() -> None:
        async with serving(silent) as port:
            stream = await AsyncioBackend().connect_tcp(LOOPBACK, port, timeout=5)
            with pytest.raises(httpcore.ConnectTimeout):
                await stream.start_tls(client_tls(ca), server_hostname="localhost", timeout=0.3)

    run(main())


def test_the_pool_does_not_reuse_a_connection_the_server_closed_while_idle(ca: trustme.CA) -> None:
    connections = 0

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # no "Connection: close": the client learns only from the close

    async def main() -> None:
        async with (
            serving(once, server_tls(ca)) as port,
            httpcore.AsyncConnectionPool(ssl_context=client_tls(ca), network_backend=AsyncioBackend()) as pool,
        ):
            assert (await pool.request("GET", f"https://localhost:{port}/")).content == b"ok"
            # Dropped, or kept and known to be expired, before the next request is placed.
            await eventually(lambda: all(c.has_expired() for c in pool.connections), "the close to be seen")
            assert (await pool.request("GET", f"https://localhost:{port}/")).content == b"ok"
            assert connections == 2

    run(main())
