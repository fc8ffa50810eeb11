"""Fetching article pages for full text: the same limits as feeds, plus robots.txt.

Owns the network side of full text. An article page is fetched on the
fetcher's loop and client, so it shares everything a feed fetch obeys: the
per-host slots and politeness delay (`Fetcher.host_slot`), connect/read
timeouts and the hard deadline, bounded decompression, http(s) only, the
User-Agent, and the address guard. The page URL is the publisher's, not the
operator's: it is trusted only on the host of the feed that links to it (the
operator chose that host); anywhere else it must resolve to public
addresses, and no redirect may lead from a public address into private
space (`poll.allow_private_redirects` opts out, as for feeds).

robots.txt is read once per origin and cached (a day when read, ten
minutes when it could not be: RFC 9309 — a server error or no answer means
"disallow everything for now", a 4xx means "allow everything"). A page that
is not HTML is refused from its Content-Type before its body is read. Every
outcome is a `PageResult`: a body to extract, or a one-line reason. It never
extracts: bodies go to `fetch.extract` in the parse pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from monitor.fetch.addresses import AddressRefused, send_following_redirects
from monitor.fetch.decode import DecodeError, TooLarge
from monitor.fetch.http import MAX_REDIRECTS, Fetcher, read_bounded, short_error
from monitor.fetch.slots import Slots

__all__ = ["PageFetcher", "PageResult", "PageSettings"]

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
# What robots.txt rules are matched against (the product token of our User-Agent).
ROBOTS_AGENT = "monitor"
ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_TTL = 24 * 3600.0
ROBOTS_RETRY = 600.0
ROBOTS_CACHE = 2048
# Content types that may hold an article; a missing one is sniffed by the extractor.
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain")


@dataclass(frozen=True)
class PageSettings:
    """Limits of article-page fetching (`fulltext:` in the config)."""

    max_bytes: int = 5 * 1024 * 1024
    respect_robots: bool = True
    concurrency: int = 4


@dataclass(frozen=True)
class PageResult:
    """One page fetch: the body and headers to extract from, or why there is none."""

    url: str
    final_url: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.body is not None and self.reason is None


@dataclass
class _Robots:
    rules: RobotFileParser | None  # None: everything allowed
    unreachable: str | None  # why robots.txt could not be read (everything disallowed)
    expires: float


class PageFetcher:
    """Article pages through a `Fetcher`'s loop, client and host slots.

    Thread-safe to call: `submit` returns a future; the work happens on the
    fetch loop. The robots cache lives on the loop too (no lock needed) and
    holds at most `ROBOTS_CACHE` origins.
    """

    def __init__(self, fetcher: Fetcher, settings: PageSettings) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self._robots: OrderedDict[str, _Robots] = OrderedDict()
        self._robots_loading: dict[str, asyncio.Future[_Robots]] = {}
        self._overall: Slots | None = None

    def submit(self, url: str, *, trusted: bool) -> concurrent.futures.Future[PageResult]:
        """Fetch `url` in the background. `trusted`: on the host of the feed the operator configured."""
        return self.fetcher.run(self.fetch(url, trusted=trusted))

    async def fetch(self, url: str, *, trusted: bool) -> PageResult:
        """One page within the hard deadline; never raises for network trouble."""
        started = time.monotonic()
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return PageResult(url, reason="not an http(s) URL")
        if self._overall is None:
            self._overall = Slots(max(self.settings.concurrency, 1))
        deadline = self.fetcher.settings.deadline
        try:
            if self.settings.respect_robots:
                refusal = await self._robots_refusal(url, trusted=trusted)
                if refusal:
                    return PageResult(url, reason=refusal, elapsed=time.monotonic() - started)
            async with self.fetcher.host_slot(url), self._overall, asyncio.timeout(deadline):
                result = await self._get(url, trusted=trusted)
        except TimeoutError:
            result = PageResult(url, reason=f"page timed out after {deadline:g}s")
        return PageResult(
            result.url, result.final_url, result.body, result.headers, result.reason, time.monotonic() - started
        )

    async def _get(self, url: str, *, trusted: bool) -> PageResult:
        client = self.fetcher.client()
        try:
            response = await send_following_redirects(
                client,
                client.build_request("GET", url, headers={"Accept": PAGE_ACCEPT}),
                max_redirects=MAX_REDIRECTS,
                allow_private=self.fetcher.settings.allow_private_redirects,
                trusted=trusted,
            )
            async with contextlib.aclosing(response):
                final = str(response.url)
                if response.status_code != 200:
                    phrase = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                    return PageResult(url, final, reason=f"page answered {phrase}")
                ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype and not ctype.startswith(_HTML_TYPES):
                    return PageResult(url, final, reason=f"not an HTML page ({ctype})")
                body = await read_bounded(response, self.settings.max_bytes)
                return PageResult(url, final, body, dict(response.headers))
        except TooLarge:
            return PageResult(url, reason=f"page larger than {self.settings.max_bytes} bytes")
        except DecodeError as exc:
            return PageResult(url, reason=str(exc))
        except httpx.TooManyRedirects:
            return PageResult(url, reason=f"page: more than {MAX_REDIRECTS} redirects")
        except AddressRefused as exc:
            return PageResult(url, reason=f"page: {'redirect to ' if trusted else ''}{exc.target} refused")
        except httpx.UnsupportedProtocol:
            return PageResult(url, reason="page: refused a redirect to a non-http(s) URL")
        except httpx.TimeoutException:
            return PageResult(url, reason="page timed out")
        except httpx.HTTPError as exc:
            return PageResult(url, reason=f"page: {type(exc).__name__}: {short_error(exc)}")

    # --- robots.txt ---------------------------------------------------------

    async def _robots_refusal(self, url: str, *, trusted: bool) -> str | None:
        """Why robots.txt forbids `url` (or could not be read), or None when it may be fetched."""
        parts = urlsplit(url)
        origin = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), "", "", ""))
        robots = await self._robots_for(origin, trusted=trusted)
        if robots.unreachable:
            return f"robots.txt unreachable ({robots.unreachable}); retried later"
        if robots.rules is not None and not robots.rules.can_fetch(ROBOTS_AGENT, url):
            return "disallowed by robots.txt"
        return None

    async def _robots_for(self, origin: str, *, trusted: bool) -> _Robots:
        cached = self._robots.get(origin)
        if cached is not None and cached.expires > time.monotonic():
            self._robots.move_to_end(origin)
            return cached
        loading = self._robots_loading.get(origin)
        if loading is not None:  # another page of this site is reading it
            return await asyncio.shield(loading)
        future: asyncio.Future[_Robots] = asyncio.get_running_loop().create_future()
        self._robots_loading[origin] = future
        try:
            robots = await self._read_robots(origin, trusted=trusted)
            future.set_result(robots)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it; nobody logs it as unhandled
            raise
        finally:
            self._robots_loading.pop(origin, None)
        self._robots[origin] = robots
        while len(self._robots) > ROBOTS_CACHE:
            self._robots.popitem(last=False)
        return robots

    async def _read_robots(self, origin: str, *, trusted: bool) -> _Robots:
        now = time.monotonic()
        try:
            async with self.fetcher.host_slot(origin), asyncio.timeout(self.fetcher.settings.deadline):
                result = await self._get_robots(origin + "/robots.txt", trusted=trusted)
        except TimeoutError:
            return _Robots(None, "timed out", now + ROBOTS_RETRY)
        status, body, reason = result
        if reason is not None:
            return _Robots(None, reason, now + ROBOTS_RETRY)
        if status is not None and 400 <= status < 500:
            return _Robots(None, None, now + ROBOTS_TTL)  # no robots.txt: everything allowed
        if status != 200 or body is None:
            return _Robots(None, f"HTTP {status}", now + ROBOTS_RETRY)
        rules = RobotFileParser()
        rules.parse(body.decode("utf-8", "replace").splitlines())
        return _Robots(rules, None, now + ROBOTS_TTL)

    async def _get_robots(self, url: str, *, trusted: bool) -> tuple[int | None, bytes | None, str | None]:
        client = self.fetcher.client()
        try:
            response = await send_following_redirects(
                client,
                client.build_request("GET", url, headers={"Accept": "text/plain, */*;q=0.1"}),
                max_redirects=MAX_REDIRECTS,
                allow_private=self.fetcher.settings.allow_private_redirects,
                trusted=trusted,
            )
            async with contextlib.aclosing(response):
                if response.status_code != 200:
                    return response.status_code, None, None
                try:
                    body = await read_bounded(response, ROBOTS_MAX_BYTES)
                except TooLarge:
                    return None, None, f"larger than {ROBOTS_MAX_BYTES} bytes"
                return 200, body, None
        except AddressRefused as exc:
            return None, None, f"redirect to {exc.target} refused"
        except (httpx.HTTPError, DecodeError) as exc:
            return None, None, f"{type(exc).__name__}: {short_error(exc)}"
