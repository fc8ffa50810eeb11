"""Fetching feed bodies over HTTP with httpx.

Owns the network side of polling: one shared async client (connection
reuse across cycles) on an event loop of its own, a global concurrency bound
and a per-host bound with a politeness delay, connect/read timeouts plus a
hard deadline per fetch, bounded decompression, conditional GET with the
stored validators, what redirects and Retry-After say, and turning every
failure into a one-line reason. Redirects are followed hop by hop under the
address guard of `fetch.addresses` (no hop from a public address into
private space). It never parses: bodies go to `fetch.parse`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx

from monitor import __version__
from monitor.fetch.addresses import (
    AddressRefused,
    GuardedTransport,
    Resolver,
    send_following_redirects,
    system_resolver,
)
from monitor.fetch.decode import ACCEPT_ENCODING, DecodeError, TooLarge, make_decoder
from monitor.fetch.slots import Slots
from monitor.models import FeedRequest, FetchResult

log = logging.getLogger(__name__)

USER_AGENT = f"monitor/{__version__} (news monitoring; +https://github.com/monitor-news/monitor)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
)
MAX_REDIRECTS = 5
# Fetched results waiting for the caller of `Fetcher.fetch`, at most (or the
# poll concurrency, if higher): the bodies a poll cycle holds at once.
RESULTS_AHEAD = 32
PERMANENT = (301, 308)
_DONE = object()
T = TypeVar("T")


@dataclass(frozen=True)
class FetchSettings:
    """Limits for fetching."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    total_timeout: float | None = None  # default: timeout + connect_timeout
    max_bytes: int = 10 * 1024 * 1024
    concurrency: int = 10
    per_host: int = 2
    host_delay: float = 0.5
    user_agent: str = USER_AGENT
    # Follow redirects from a public address into private space (off: refused).
    allow_private_redirects: bool = False

    @property
    def deadline(self) -> float:
        return self.total_timeout or (self.timeout + self.connect_timeout)


class Fetcher:
    """Fetches many feeds concurrently; one result per feed, as each completes.

    The client and its event loop live as long as the fetcher, so
    connections to a publisher are reused from one cycle to the next.
    `resolve` and `network` replace DNS and sockets (tests stand public
    addresses in for loopback servers with them); `transport` replaces
    HTTP altogether (`httpx.MockTransport`: the poller's decisions tested
    without a server; no address checks then).
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolve: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._resolve = resolve
        self._network = network
        self._transport = transport
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._start_lock = threading.Lock()
        # host -> [slots, users]: shared by feed and article-page fetches, on the loop.
        self._hosts: dict[str, tuple[Slots, list[int]]] = {}

    # --- lifecycle ---------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="fetch-loop", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coroutine` on the fetch loop (started if need be); its result as a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())

    @contextlib.asynccontextmanager
    async def host_slot(self, url: str) -> AsyncIterator[None]:
        """Politeness per host, for feeds and article pages alike (on the loop).

        At most `per_host` fetches at a time against one host; the slot is
        held `host_delay` longer after each. Entries go when unused, so the
        hosts publishers link to do not accumulate.
        """
        host = urlsplit(url).netloc.lower()
        slots, users = self._hosts.setdefault(host, (Slots(max(self.settings.per_host, 1)), [0]))
        users[0] += 1
        try:
            async with slots:
                yield
                if self.settings.host_delay:
                    await asyncio.sleep(self.settings.host_delay)
        finally:
            users[0] -= 1
            if not users[0]:
                self._hosts.pop(host, None)

    def client(self) -> httpx.AsyncClient:
        """The shared client (on the loop): guarded transport, timeouts, User-Agent."""
        return self._get_client()

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            s = self.settings
            limits = httpx.Limits(
                max_connections=max(s.concurrency, 1),
                max_keepalive_connections=max(s.concurrency, 1),
                keepalive_expiry=60,
            )
            self._client = httpx.AsyncClient(
                transport=self._transport or GuardedTransport(limits, resolve=self._resolve, network=self._network),
                follow_redirects=False,  # send_following_redirects checks each hop
                timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
                headers={"User-Agent": s.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
                trust_env=False,
            )
        return self._client

    def close(self) -> None:
        """Close connections and stop the loop (the fetcher can start again later)."""
        loop = self._loop
        if loop is None:
            return
        if self._client is not None:
            client, self._client = self._client, None
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = self._thread = None

    # --- fetching ----------------------------------------------------------

    def fetch(
        self, requests: Sequence[FeedRequest], stop: threading.Event | None = None, idle: float | None = None
    ) -> Iterator[FetchResult | None]:
        """Yield each feed's result as it completes, until all are in or `stop` is set.

        With `idle`, None is yielded whenever nothing arrived for that many
        seconds, so the caller can do other work (finish parsed feeds) while
        a slow feed is still being fetched.

        Fetching runs at most `RESULTS_AHEAD` results ahead of the caller: a
        feed is not fetched while that many fetched bodies wait to be taken,
        so a cycle of thousands of feeds holds a bounded number of bodies
        however slowly the caller stores them.
        """
        if not requests:
            return
        loop = self._ensure_loop()
        results: queue.Queue[object] = queue.Queue()
        ahead = Slots(max(RESULTS_AHEAD, self.settings.concurrency))
        future = asyncio.run_coroutine_threadsafe(self._fetch_all(requests, stop, results.put, ahead), loop)
        try:
            while True:
                try:
                    item = results.get(timeout=idle)
                except queue.Empty:
                    yield None
                    continue
                if item is _DONE:
                    break
                assert isinstance(item, FetchResult)
                loop.call_soon_threadsafe(ahead.release)
                yield item
        finally:
            if not future.done():
                future.cancel()
            try:
                future.result(timeout=10)
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - cancelled on purpose
                pass

    async def _fetch_all(
        self,
        requests: Sequence[FeedRequest],
        stop: threading.Event | None,
        put: Callable[[object], None],
        ahead: Slots,
    ) -> None:
        client = self._get_client()
        overall = Slots(max(self.settings.concurrency, 1))

        async def bounded(request: FeedRequest) -> None:
            await ahead.acquire()  # released when the caller takes the result
            given = False
            try:
                async with self.host_slot(request.url), overall:
                    if stop is not None and stop.is_set():
                        return
                    put(await self.fetch_one(client, request))
                    given = True
            finally:
                if not given:
                    ahead.release()

        tasks = [asyncio.create_task(bounded(r)) for r in requests]
        try:
            pending = set(tasks)
            while pending:
                _, pending = await asyncio.wait(pending, timeout=0.25)
                if stop is not None and stop.is_set():
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            put(_DONE)

    async def fetch_one(self, client: httpx.AsyncClient, request: FeedRequest) -> FetchResult:
        """Fetch one feed within a hard deadline; never raises for network trouble."""
        started = time.monotonic()
        deadline = self.settings.deadline

        def result(**fields: object) -> FetchResult:
            fields.setdefault("final_url", request.url)
            fields.setdefault("status", None)
            return FetchResult(request=request, elapsed=time.monotonic() - started, **fields)  # type: ignore[arg-type]

        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        try:
            async with asyncio.timeout(deadline):
                response = await send_following_redirects(
                    client,
                    client.build_request("GET", request.url, headers=headers),
                    max_redirects=MAX_REDIRECTS,
                    allow_private=self.settings.allow_private_redirects,
                )
                async with contextlib.aclosing(response):
                    final_url = str(response.url)
                    moved = permanent_location(request.url, response)
                    common = {
                        "status": response.status_code,
                        "final_url": final_url,
                        "headers": dict(response.headers),
                        "permanent_url": moved,
                    }
                    if response.status_code == 304:
                        # Read its (empty) body: a response closed unread
                        # closes its connection, and every 304 of a cycle
                        # would open a new one.
                        if not response.is_stream_consumed:  # (an in-memory transport's is)
                            await read_bounded(response, self.settings.max_bytes)
                        return result(**common)
                    if response.status_code >= 400:
                        reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                        return result(error=reason, retry_after=retry_after(response.headers), **common)
                    if response.status_code >= 300:
                        return result(error=f"HTTP {response.status_code} without a usable redirect", **common)
                    body = await read_bounded(response, self.settings.max_bytes)
                    return result(body=body, **common)
        except TimeoutError:
            return result(error=f"timed out after {deadline:g}s")
        except TooLarge:
            return result(error=f"body larger than {self.settings.max_bytes} bytes")
        except DecodeError as exc:
            return result(error=str(exc))
        except httpx.TooManyRedirects:
            return result(error=f"more than {MAX_REDIRECTS} redirects")
        except AddressRefused as exc:
            # Only hops after the configured URL are checked: always a redirect.
            return result(error=f"redirect to {exc.target} refused")
        except httpx.UnsupportedProtocol as exc:
            return result(error=f"refused a redirect to a non-http(s) URL ({short_error(exc)})")
        except httpx.ConnectTimeout:
            return result(error="connect timed out")
        except httpx.ReadTimeout:
            return result(error="read timed out")
        except httpx.TimeoutException:
            return result(error="timed out")
        except httpx.ConnectError as exc:
            return result(error=_connect_reason(exc))
        except httpx.HTTPError as exc:
            return result(error=f"{type(exc).__name__}: {short_error(exc)}")
        except Exception as exc:  # a bug here must be this feed's failure, not a feed lost from the cycle
            log.exception("feed=%r unexpected error while fetching", request.name)
            return result(error=f"internal error: {type(exc).__name__}: {short_error(exc)}")


async def read_bounded(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, decoded by its Content-Encoding, never more than `max_bytes` of either form."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge
    decoder = make_decoder(response.headers.get("Content-Encoding"))
    chunks: list[bytes] = []
    raw = size = 0
    async for chunk in response.aiter_raw():
        raw += len(chunk)
        if raw > max_bytes:
            raise TooLarge
        out = decoder.feed(chunk, max_bytes - size)
        size += len(out)
        chunks.append(out)
    chunks.append(decoder.flush(max_bytes - size))
    return b"".join(chunks)


def permanent_location(requested: str, response: httpx.Response) -> str | None:
    """Where a feed has permanently moved: the URL after the leading 301/308 redirects.

    A temporary redirect (302, 303, 307) in the chain ends what counts as
    permanent, so the stored URL only ever follows permanent moves.
    """
    if not response.history:
        return None
    moved = None
    urls = [str(r.url) for r in response.history[1:]] + [str(response.url)]
    for redirect, target in zip(response.history, urls, strict=True):
        if redirect.status_code not in PERMANENT:
            break
        moved = target
    return moved if moved and moved != requested else None


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds a Retry-After header asks us to wait (seconds or an HTTP date)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _connect_reason(exc: httpx.ConnectError) -> str:
    """A plain reason for a failed connection, from the underlying OS error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed (host not found)"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {short_error(cause)}"
        cause = cause.__cause__ or cause.__context__
    text = short_error(exc)
    lowered = text.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "DNS lookup failed (host not found)"
    if "connection refused" in lowered:
        return "connection refused"
    return f"cannot connect: {text}"


def short_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def run_fetches(
    fetcher: Fetcher,
    requests: Sequence[FeedRequest],
    handle: Callable[[FetchResult], None],
    stop: threading.Event | None = None,
) -> None:
    """Fetch `requests` and hand each result to `handle` in this thread, as they arrive."""
    for result in fetcher.fetch(requests, stop):
        if result is not None:
            handle(result)
