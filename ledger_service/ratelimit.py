"""Fixed-window request counters, the building block of every CardTrail rate limit.

>>> from ledger_service.ratelimit import RateLimiter
>>> now = [0.0]
>>> limiter = RateLimiter(2, 10.0, clock=lambda: now[0])
>>> limiter.hit("a"); limiter.hit("a")
>>> try:
...     limiter.hit("a")
... except Exception as exc:
...     print(type(exc).__name__, exc.extra["retry_after"])
RateLimited 10
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ledger_service.errors import RateLimited


class RateLimiter:
    """A fixed-window request counter per token, in this process.

    ``limit`` requests per ``window`` seconds; each worker process counts on its own, so
    the effective limit behind N workers is N times higher.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> None:
        """Count one request for ``key``; raise :class:`RateLimited` past the limit."""
        now = self._clock()
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.limit:
                retry_after = max(1, int(start + self.window - now + 0.999))
                raise RateLimited(
                    f"more than {self.limit} requests in {self.window:g} s", retry_after=retry_after
                )
            self._counts[key] = (start, count + 1)
            if len(self._counts) > 10_000:
                # Forget closed windows so that the table cannot grow without bound.
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
