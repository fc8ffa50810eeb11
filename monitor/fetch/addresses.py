"""Which network addresses a fetch may connect to: the guard against redirects into private space.

Owns three things, usable by any fetcher (feeds today, article pages later):

* pure decisions over addresses: `private_kind` (why an address is not
  public, or None) and `is_public_address`;
* a connection pool that checks at connect time (`GuardedTransport`): the
  host name is resolved once, every answer is checked, and the socket is
  opened to one of the checked addresses, so a DNS answer that changes
  between a check and the connect (rebinding) cannot slip through;
* following redirects hop by hop (`send_following_redirects`) with the rule
  that a hop from a public address may not lead into private space.

The rule: the URL the operator configured is trusted as written (a feed on
127.0.0.1 or on the office network works). Each redirect hop is checked
against the address the previous hop was answered from: after a public
address, the next host must resolve to public addresses only; after a
private address (the operator chose that network) anything goes, until the
chain reaches a public address again. Resolution goes through a `Resolver`
and sockets through an httpcore network backend, both replaceable, which is
how tests stand in a public address for a loopback server.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import anyio
import httpcore
import httpx

from monitor.fetch.asyncnet import AsyncioBackend
from monitor.fetch.connpool import LinearPool, check_httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (IP literals as text), best first.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# A request extension read by GuardedTransport: connect to public addresses only.
PUBLIC_ONLY = "monitor.public_only"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(Exception):
    """A connection refused because `host` resolved to a non-public `address`."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        self.host = host
        self.address = address
        self.kind = kind
        super().__init__(self.target)

    @property
    def target(self) -> str:
        """'private address 10.0.0.1', plus the host name when the URL had one."""
        named = "" if _same_address(self.host, self.address) else f" ({self.host})"
        return f"private address {self.address}{named}"


# --- pure decisions ---------------------------------------------------------


def private_kind(address: str | IPAddress) -> str | None:
    """Why `address` is not a public internet address ('loopback', 'private', ...), or None if it is.

    IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
    6to4 2002::/16, NAT64 64:ff9b::/96) are judged by the IPv4 address too.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        # A mapped or NAT64 address reaches exactly its IPv4 address.
        if ip.ipv4_mapped is not None:
            return private_kind(ip.ipv4_mapped)
        if ip in _NAT64:
            return private_kind(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and (inner := private_kind(ip.sixtofour)) is not None:
            return inner
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:  # e.g. 100.64.0.0/10, shared carrier-grade NAT space
        return "not globally routable"
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local and the like."""
    return private_kind(address) is None


def _same_address(host: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(address)
    except ValueError:
        return False


# --- resolving and connecting -----------------------------------------------


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order of preference."""
    answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in answers]


class CheckingBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks and connects in one step.

    With `public_only`, a host with any non-public answer is refused
    (AddressRefused) before any connection is made. Either way the socket is
    opened to an address from this one answer, never by name, so a second
    lookup cannot change where it goes.
    """

    def __init__(
        self,
        *,
        public_only: bool,
        resolve: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.public_only = public_only
        self._resolve = resolve
        self._network = network or AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port)
        if self.public_only:
            for address in addresses:
                kind = private_kind(address)
                if kind is not None:
                    raise AddressRefused(host, address, kind)
        return await self._connect_first(addresses, port, timeout, local_address, socket_options)

    async def _addresses(self, host: str, port: int) -> list[str]:
        if _is_literal(host):
            return [host.strip("[]")]
        try:
            answers = await self._resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        unique = list(dict.fromkeys(answers))
        if not unique:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        return unique

    async def _connect_first(
        self,
        addresses: Sequence[str],
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[Any] | None,
    ) -> httpcore.AsyncNetworkStream:
        """Try the addresses in turn; all but the last get half the time that is left.

        (Sequential, not happy eyeballs: a silent IPv6 address costs at
        most half the connect timeout before IPv4 is tried.)
        """
        options = list(socket_options or [])
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Exception | None = None
        for index, address in enumerate(addresses):
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if left is not None and index < len(addresses) - 1:
                left /= 2
            try:
                return await self._network.connect_tcp(
                    address, port, timeout=left, local_address=local_address, socket_options=options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for fetching")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _checked_pool(backend: CheckingBackend, limits: httpx.Limits, tls: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits, trust_env=False)
    # httpx (0.27, 0.28) has no public way to give its transport a network
    # backend (encode/httpx#3749); the pool it wraps is replaced with an equal
    # one that connects through ours (and plans in linear time: connpool.py).
    # Checked, so an httpx change fails loudly.
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise TypeError("this httpx version does not keep an httpcore pool in AsyncHTTPTransport._pool")
    check_httpcore()
    transport._pool = LinearPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )
    return transport


class GuardedTransport(httpx.AsyncBaseTransport):
    """Two connection pools behind one httpx transport: trusted and public-only.

    A request whose extensions say `PUBLIC_ONLY` goes through a pool that
    connects to public addresses only, so its kept-alive connections are
    all to checked public addresses; a trusted request (the operator's
    URL) never lends such a hop a connection to a private host.
    """

    def __init__(
        self,
        limits: httpx.Limits,
        *,
        resolve: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        tls = httpx.create_ssl_context(trust_env=False)
        trusted = CheckingBackend(public_only=False, resolve=resolve, network=network)
        public = CheckingBackend(public_only=True, resolve=resolve, network=network)
        self._trusted = _checked_pool(trusted, limits, tls)
        self._public = _checked_pool(public, limits, tls)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._public if request.extensions.get(PUBLIC_ONLY) else self._trusted
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        await self._trusted.aclose()
        await self._public.aclose()


# --- following redirects ----------------------------------------------------

# A redirect's body is read (so its connection can be reused) up to this much.
_REDIRECT_BODY = 64 * 1024


def peer_address(response: httpx.Response) -> IPAddress | None:
    """The address `response` came from (its connection's peer), or None if unknown."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return None
    try:
        return ipaddress.ip_address(str(peer[0]))
    except ValueError:
        return None


async def send_following_redirects(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    max_redirects: int,
    allow_private: bool = False,
    trusted: bool = True,
) -> httpx.Response:
    """Send `request` and follow its redirects one hop at a time; the final response, still streaming.

    `client` must use a `GuardedTransport`. The first hop is trusted when
    `trusted` (a URL the operator wrote); a later hop must reach a public
    address whenever the hop before it was answered from one (or from an
    unknown one). Raises AddressRefused for a refused hop and
    httpx.TooManyRedirects past `max_redirects`. The final response's
    `history` holds the redirect responses, as httpx's own following does.
    """
    history: list[httpx.Response] = []
    public_only = not trusted and not allow_private
    while True:
        request.extensions = {**request.extensions, PUBLIC_ONLY: public_only}
        response = await client.send(request, stream=True, follow_redirects=False)
        following = response.next_request
        if following is None:
            response.history = history
            return response
        peer = peer_address(response)
        await _discard(response)
        history.append(response)
        if len(history) > max_redirects:
            raise httpx.TooManyRedirects(f"more than {max_redirects} redirects", request=following)
        if not allow_private:
            public_only = public_only or peer is None or is_public_address(peer)
        request = following


async def _discard(response: httpx.Response) -> None:
    """Close a redirect response, reading a small body first so the connection stays reusable."""
    try:
        if response.is_stream_consumed:  # already read (an in-memory transport)
            return
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > _REDIRECT_BODY:
                break
    finally:
        await response.aclose()
