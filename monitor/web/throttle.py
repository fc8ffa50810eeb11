"""Throttling failed sign-ins (the login form and wrong bearer tokens), per client address.

A client's `free`-th failure, and each one after it, locks it out for
`base * 2**k` seconds (k = 0, 1, 2, …), at most `cap`: 4 wrong tokens
cost nothing, the 5th locks the client out for 1 s, the next for 2 s,
4 s, … 15 min. A correct token ends the count; so does an hour without
a failure.
While locked out a client is refused (429 with Retry-After) without its
token being looked at, so guessing costs the attacker time, not us CPU.

Clients are keyed by address (IPv6 by its /64, which one host usually
owns whole). Behind a reverse proxy every client has the proxy's address
and shares one count. The table lives in memory, is bounded (`max_clients`;
quiet records are dropped first) and starts empty on restart.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    last_failure: float
    locked_until: float


class FailureThrottle:
    """Failed attempts per client with exponential lockout; `clock` gives seconds (any epoch)."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        free: int = 5,
        base: float = 1.0,
        cap: float = 900.0,
        forget_after: float = 3600.0,
        max_clients: int = 10_000,
    ) -> None:
        self.clock = clock
        self.free = free
        self.base = base
        self.cap = cap
        self.forget_after = forget_after
        self.max_clients = max_clients
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str | None) -> float:
        """Seconds until `client` may try again (0: it may now)."""
        with self._lock:
            record = self._records.get(client_key(client))
            return max(0.0, record.locked_until - self.clock()) if record else 0.0

    def failed(self, client: str | None) -> float:
        """Count a failure of `client`; the lockout it now serves, in seconds (0: none yet)."""
        now = self.clock()
        key = client_key(client)
        with self._lock:
            record = self._records.get(key)
            if record is None or now - record.last_failure > self.forget_after:
                if key not in self._records and len(self._records) >= self.max_clients:
                    self._evict(now)
                record = self._records[key] = _Record(0, now, now)
            record.failures += 1
            record.last_failure = now
            over = record.failures - self.free
            if over >= 0:
                record.locked_until = now + min(self.cap, self.base * 2 ** min(over, 64))
            return max(0.0, record.locked_until - now)

    def succeeded(self, client: str | None) -> None:
        with self._lock:
            self._records.pop(client_key(client), None)

    def __len__(self) -> int:
        return len(self._records)

    def _evict(self, now: float) -> None:
        quiet = [
            k for k, r in self._records.items() if now - r.last_failure > self.forget_after and r.locked_until <= now
        ]
        for key in quiet:
            del self._records[key]
        if len(self._records) >= self.max_clients:
            # Still full: drop the records whose last failure is oldest (a tenth, to amortise).
            by_age = sorted(self._records, key=lambda k: self._records[k].last_failure)
            for key in by_age[: max(1, self.max_clients // 10)]:
                del self._records[key]


def client_key(address: str | None) -> str:
    """The throttling key of a client address: the address, an IPv6 one by its /64."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
