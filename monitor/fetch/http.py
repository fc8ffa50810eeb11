"""Fetching feed bodies over HTTP with httpx.

Owns the network side of polling: one shared async client, a concurrency
bound, connect/read timeouts plus a hard deadline per fetch, a body size
cap, conditional GET with the stored validators, and turning every failure
into a one-line reason. It never parses: the body goes to `fetch.parse`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import httpx

from monitor import __version__
from monitor.models import FeedRequest, FetchResult

log = logging.getLogger(__name__)

USER_AGENT = f"monitor/{__version__} (news monitoring; +https://github.com/monitor-news/monitor)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
)
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchSettings:
    """Limits for one fetch."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    concurrency: int = 10
    user_agent: str = USER_AGENT


class BodyTooLarge(Exception):
    pass


class Fetcher:
    """Fetches many feeds concurrently under a bound; one result per feed."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings

    def _client(self) -> httpx.AsyncClient:
        s = self.settings
        return httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
            headers={"User-Agent": s.user_agent, "Accept": ACCEPT},
            limits=httpx.Limits(
                max_connections=max(s.concurrency, 1),
                max_keepalive_connections=max(s.concurrency, 1),
            ),
            trust_env=False,
        )

    async def fetch_all(
        self,
        requests: Sequence[FeedRequest],
        stop: threading.Event | None = None,
    ) -> AsyncIterator[FetchResult]:
        """Yield each feed's result as soon as it is in, until all are or `stop` is set."""
        if not requests:
            return
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        async with self._client() as client:

            async def bounded(request: FeedRequest) -> FetchResult:
                async with semaphore:
                    if stop is not None and stop.is_set():
                        raise asyncio.CancelledError
                    return await self.fetch_one(client, request)

            tasks = [asyncio.create_task(bounded(r)) for r in requests]
            pending = set(tasks)
            try:
                while pending:
                    done, pending = await asyncio.wait(
                        pending, timeout=0.25, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done:
                        if not task.cancelled():
                            yield task.result()
                    if stop is not None and stop.is_set():
                        break
            finally:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def fetch_one(self, client: httpx.AsyncClient, request: FeedRequest) -> FetchResult:
        """Fetch one feed within a hard deadline; never raises for network trouble."""
        started = time.monotonic()
        deadline = self.settings.timeout + self.settings.connect_timeout

        def failed(reason: str, status: int | None = None, url: str | None = None) -> FetchResult:
            return FetchResult(
                request=request,
                status=status,
                final_url=url or request.url,
                error=reason,
                elapsed=time.monotonic() - started,
            )

        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        try:
            async with asyncio.timeout(deadline):
                async with client.stream("GET", request.url, headers=headers) as response:
                    final_url = str(response.url)
                    if response.status_code == 304:
                        return FetchResult(
                            request=request,
                            status=304,
                            final_url=final_url,
                            headers=dict(response.headers),
                            elapsed=time.monotonic() - started,
                        )
                    if response.status_code >= 400:
                        reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                        return failed(reason, response.status_code, final_url)
                    if response.status_code >= 300:
                        return failed(f"HTTP {response.status_code} without a usable redirect")
                    body = await _read_capped(response, self.settings.max_bytes)
                    return FetchResult(
                        request=request,
                        status=response.status_code,
                        final_url=final_url,
                        body=body,
                        headers=dict(response.headers),
                        elapsed=time.monotonic() - started,
                    )
        except TimeoutError:
            return failed(f"timed out after {deadline:g}s")
        except BodyTooLarge:
            return failed(f"body larger than {self.settings.max_bytes} bytes")
        except httpx.TooManyRedirects:
            return failed(f"more than {MAX_REDIRECTS} redirects")
        except httpx.ConnectTimeout:
            return failed("connect timed out")
        except httpx.ReadTimeout:
            return failed("read timed out")
        except httpx.TimeoutException:
            return failed("timed out")
        except httpx.ConnectError as exc:
            return failed(_connect_reason(exc))
        except httpx.UnsupportedProtocol as exc:
            return failed(f"unsupported URL: {_short(exc)}")
        except httpx.DecodingError as exc:
            return failed(f"bad content encoding: {_short(exc)}")
        except httpx.HTTPError as exc:
            return failed(f"{type(exc).__name__}: {_short(exc)}")


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _connect_reason(exc: httpx.ConnectError) -> str:
    """A plain reason for a failed connection, from the underlying OS error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed (host not found)"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {_short(cause)}"
        cause = cause.__cause__ or cause.__context__
    text = _short(exc)
    lowered = text.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "DNS lookup failed (host not found)"
    if "connection refused" in lowered:
        return "connection refused"
    return f"cannot connect: {text}"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def run_fetches(
    fetcher: Fetcher,
    requests: Sequence[FeedRequest],
    handle: Callable[[FetchResult], None],
    stop: threading.Event | None = None,
) -> None:
    """Fetch `requests` concurrently and hand each result to `handle` as it arrives.

    `handle` (parse + store) runs in a worker thread so the event loop keeps
    fetching; results are handled one at a time, in arrival order.
    """

    async def main() -> None:
        async for result in fetcher.fetch_all(requests, stop):
            await asyncio.to_thread(handle, result)

    asyncio.run(main())
