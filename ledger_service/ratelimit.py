"""Fixed-window request counters, the building block of every CardTrail rate limit.

The counters live in a store that every process and host of a deployment can share
(``CARDTRAIL_RATE_LIMIT_STORAGE``: ``memory://`` for one process, ``redis://…`` for all),
so that N workers allow the documented limit once, not N times. The storage and the
fixed-window strategy are those of the ``limits`` package (the engine of Flask-Limiter),
used directly behind :class:`RateLimiter`: the limits are keyed by token, client and card
inside the views, which a per-route decorator does not fit.

>>> from ledger_service.ratelimit import CounterStore, RateLimiter
>>> limiter = RateLimiter("demo", 2, 10.0, CounterStore.from_uri("memory://"))
>>> limiter.hit("a"); limiter.hit("a")
>>> try:
...     limiter.hit("a")
... except Exception as exc:
...     print(type(exc).__name__, exc.extra["retry_after"])
RateLimited 10
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from ledger_service.errors import RateLimited

log = logging.getLogger(__name__)

KEY_PREFIX = "cardtrail"
"""What every CardTrail counter key in a shared store starts with."""

RECHECK_SECONDS = 5.0
"""How long an unreachable store is left alone before the next request tries it again."""

STORE_TIMEOUT_SECONDS = 0.5
"""The longest one request waits to connect to, or hear from, a shared store."""


def display_uri(uri: str) -> str:
    """``uri`` without its user name and password, for log lines.

    >>> display_uri("redis://:s3cret@cache.internal:6379/0")
    'redis://cache.internal:6379/0'
    """
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


class CounterStore:
    """Where a deployment's counters live, with this process's memory as the fallback.

    While the shared store cannot be reached, requests are counted in this process (the
    limits hold per process, as if ``memory://`` were configured) and the outage is
    logged as an error; the store is tried again every :data:`RECHECK_SECONDS`. Neither
    failing open (no limit while the store is down, so enumeration is unbounded) nor
    failing closed (every public page a 5xx because a cache is down) is acceptable.
    """

    def __init__(
        self, storage: Storage, name: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self._shared = FixedWindowRateLimiter(storage)
        self._failures = storage.base_exceptions
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._clock = clock
        self._down_until: float | None = None

    @classmethod
    def from_uri(cls, uri: str) -> CounterStore:
        """The store a ``CARDTRAIL_RATE_LIMIT_STORAGE`` URI names (nothing is contacted yet)."""
        storage = storage_from_string(
            uri,
            key_prefix=KEY_PREFIX,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
            socket_timeout=STORE_TIMEOUT_SECONDS,
        )
        if not isinstance(storage, Storage):
            raise ValueError(
                f"{display_uri(uri)} is an asyncio store; the views count synchronously"
            )
        return cls(storage, display_uri(uri))

    @property
    def degraded(self) -> bool:
        """Whether requests are being counted in this process because the store is down."""
        return self._down_until is not None

    def hit(self, item: RateLimitItem, *identifiers: str) -> float | None:
        """Count one request; ``None`` if it is within ``item``, else when its window ends
        (seconds since the epoch)."""
        now = self._clock()
        if self._down_until is None or now >= self._down_until:
            try:
                refused_until = _count(self._shared, item, identifiers)
            except self._failures as exc:
                if self._down_until is None:
                    log.error(
                        "rate-limit store %s is unreachable (%s); counting in this process "
                        "until it answers",
                        self.name,
                        exc,
                    )
                self._down_until = now + RECHECK_SECONDS
            else:
                if self._down_until is not None:
                    log.warning("rate-limit store %s answers again", self.name)
                    self._down_until = None
                return refused_until
        return _count(self._local, item, identifiers)


def _count(
    strategy: FixedWindowRateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]
) -> float | None:
    if strategy.hit(item, *identifiers):
        return None
    return strategy.get_window_stats(item, *identifiers).reset_time


class RateLimiter:
    """``limit`` requests per ``window`` seconds (rounded up to whole seconds) per key.

    The window of a key opens at its first request; ``name`` keeps the keys of the
    limiters that share a store apart.
    """

    def __init__(self, name: str, limit: int, window: float, store: CounterStore) -> None:
        self.name = name
        self.limit = limit
        self.window = max(1, math.ceil(window))
        self._item = RateLimitItemPerSecond(limit, self.window)
        self._store = store

    def hit(self, key: str) -> None:
        """Count one request for ``key``; raise :class:`RateLimited` past the limit."""
        refused_until = self._store.hit(self._item, self.name, key)
        if refused_until is not None:
            retry_after = max(1, math.ceil(refused_until - time.time()))
            raise RateLimited(
                f"more than {self.limit} requests in {self.window} s", retry_after=retry_after
            )


def client_key(address: str) -> str:
    """What one client's budgets are counted under: an IPv4 address, or an IPv6 /64.

    One subscriber gets a whole /64 (2^64 addresses) from the provider; counting single
    IPv6 addresses would give one client that many budgets to enumerate cards with.

        >>> client_key("192.0.2.7"), client_key("2001:db8:1:2:aaaa::5")
        ('192.0.2.7', '2001:db8:1:2::/64')
        >>> client_key("::ffff:192.0.2.7"), client_key("unknown")
        ('192.0.2.7', 'unknown')
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
