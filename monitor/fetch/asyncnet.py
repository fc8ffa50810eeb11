"""httpcore's network layer on asyncio's own transports, without anyio.

httpcore (1.0.x) reaches sockets through anyio when it runs under asyncio,
and on a cycle of 304s that layer cost the fetch loop a quarter of its CPU
(bench/README.md, "seventh pass"): every read and write opens an anyio
cancel scope with its own timer (`fail_after`), maps exceptions through a
context manager, and a read toggles the transport's reading on and off.

`AsyncioBackend` is the same httpcore interface (`AsyncNetworkBackend`) on a
`loop.create_connection` transport and a small protocol that buffers what
arrives:

* a read returns what is buffered at once, and otherwise waits on one future
  with one timer when it has a timeout;
* a write hands the bytes to the transport and waits only while the
  transport says its buffer is full (`pause_writing`);
* reading goes on while a connection is idle, up to `HIGH_WATER` buffered
  bytes (then paused until a read drains it below `LOW_WATER`), so whether
  a pooled connection was closed by its server (`is_readable`) is known
  from state, without a system call;
* TLS is `loop.start_tls` (asyncio's own TLS layer, `asyncio.sslproto`,
  in place of anyio's TLS stream; both drive an `ssl.SSLObject` over memory
  buffers), the handshake bounded by the connect timeout, and no
  close_notify on close, as httpcore's anyio stream.

Timeouts and errors map to the exceptions httpcore's own backends raise
(`ConnectTimeout`, `ReadTimeout`, `WriteTimeout`, `ConnectError`,
`ReadError`, `WriteError`), so httpx's error handling is unchanged.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

# Buffered bytes a connection reads ahead of httpcore before it stops
# reading (a response body is read in 64 KiB steps, so this is a few steps).
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
# How long `aclose` waits for asyncio to close the socket (a few loop steps)
# before it drops the connection outright.
CLOSE_WAIT = 1.0


class _Buffered(asyncio.Protocol):
    """What a connection has received and not yet handed to a reader."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.offset = 0  # into chunks[0]: what a read already took of it
        self.size = 0
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.write_paused = False
        self.drained: list[asyncio.Future[None]] = []
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake_reader()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake_reader()
        self.resume_writing()
        if not self.closed.done():
            self.closed.set_result(None)

    def dropped(self) -> None:
        """The connection was aborted where asyncio does not call
        `connection_lost` on this protocol (a failed TLS handshake)."""
        self.connection_lost(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for waiter in self.drained:
            if not waiter.done():
                waiter.set_result(None)
        self.drained.clear()

    def _wake_reader(self) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of what is buffered (some must be); a larger
        chunk is handed out in slices, its rest never copied."""
        chunk, start = self.chunks[0], self.offset
        end = start + max_bytes
        if end < len(chunk):
            self.offset = end
            chunk = chunk[start:end]
        else:
            self.chunks.popleft()
            self.offset = 0
            if start:
                chunk = chunk[start:]
        self.size -= len(chunk)
        if self.paused and self.size < LOW_WATER and self.transport is not None and not self.lost:
            self.paused = False
            self.transport.resume_reading()
        return chunk


def _expire(future: asyncio.Future[None], error: type[Exception]) -> None:
    if not future.done():
        future.set_exception(error())


async def _wait(future: asyncio.Future[None], timeout: float | None, error: type[Exception]) -> None:
    """Await `future`; after `timeout` seconds it fails with `error` instead."""
    if timeout is None:
        await future
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, future, error)
    try:
        await future
    finally:
        timer.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection (plain or TLS) as httpcore's network stream."""

    def __init__(self, transport: asyncio.Transport, protocol: _Buffered) -> None:
        self._transport = transport
        self._protocol = protocol
        # Read now: a TLS transport forgets them once its connection is
        # lost, and `addresses.peer_address` asks after a redirect's close.
        self._socket = transport.get_extra_info("socket")
        self._client_addr = transport.get_extra_info("sockname")
        self._server_addr = transport.get_extra_info("peername")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks and not protocol.eof:
            await self._wait_for_data(timeout)
        if protocol.chunks:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""  # the peer closed the connection

    async def _wait_for_data(self, timeout: float | None) -> None:
        waiter = self._protocol.reader = asyncio.get_running_loop().create_future()
        try:
            await _wait(waiter, timeout, httpcore.ReadTimeout)
        finally:
            self._protocol.reader = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise httpcore.WriteError(_lost_reason(protocol))
        self._transport.write(buffer)
        if not protocol.write_paused:
            return
        # The transport's buffer is over its limit: wait until it drains.
        waiter = asyncio.get_running_loop().create_future()
        protocol.drained.append(waiter)
        try:
            await _wait(waiter, timeout, httpcore.WriteTimeout)
        finally:
            if waiter in protocol.drained:
                protocol.drained.remove(waiter)
        if protocol.lost and protocol.error is not None:
            raise httpcore.WriteError(_lost_reason(protocol))

    async def aclose(self) -> None:
        transport = self._transport
        if self._protocol.lost:
            return
        if transport.get_extra_info("ssl_object") is not None or transport.get_write_buffer_size():
            # TLS: no close_notify, as httpcore's anyio stream (standard_compatible
            # off); waiting for the server's would let it hold the close open.
            # Unsent bytes (a write that timed out) are worth nothing either,
            # and a plain close would wait for the server to take them.
            transport.abort()
        else:
            transport.close()
        # The socket is closed in connection_lost, a few loop steps later:
        # wait for it, so a closed stream holds no open file.
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await asyncio.shield(self._protocol.closed)
        except TimeoutError:
            transport.abort()
        except BaseException:  # cancelled (a fetch's deadline): never leave it open
            transport.abort()
            raise

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        if self._protocol.lost or self._transport.is_closing():
            # The handshake would go nowhere and wait out its timeout.
            raise httpcore.ConnectError(f"connection closed before the TLS handshake ({_lost_reason(self._protocol)})")
        loop = asyncio.get_running_loop()
        # asyncio's own handshake limit (60 s) must not cut a longer one short.
        limit = timeout if timeout is not None and timeout > 0 else None
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=limit,
                )
        except TimeoutError as exc:
            self._abort()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            self._abort()
            raise
        if transport is None:  # the connection closed during the handshake
            self._abort()
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol)

    def _abort(self) -> None:
        # asyncio's TLS layer took the connection over and does not tell
        # this protocol it is gone: say so, or aclose would wait for it.
        self._transport.abort()
        self._protocol.dropped()

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Data or a close arrived while httpcore was not reading: on an
            # idle pooled connection that means the server is done with it.
            protocol = self._protocol
            return bool(protocol.chunks) or protocol.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._client_addr
        if info == "server_addr":
            return self._server_addr
        if info == "socket":
            return self._socket
        return None


def _lost_reason(protocol: _Buffered) -> str:
    error = protocol.error
    if error is None:
        return "connection closed"
    return str(error) or type(error).__name__


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connects with `loop.create_connection`; streams are `AsyncioStream`s."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Buffered, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connect to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            # asyncio sets TCP_NODELAY itself; stated here so it does not depend on that
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            transport.abort()
            raise httpcore.ConnectError(f"socket option refused: {exc}") from exc
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for fetching")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
