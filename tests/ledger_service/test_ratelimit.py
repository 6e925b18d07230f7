"""Fixed-window rate limiters."""

from __future__ import annotations

import pytest

from ledger_service.errors import RateLimited
from ledger_service.ratelimit import RateLimiter


def test_rate_limiter_refuses_past_the_limit_until_the_window_ends():
    now = [100.0]
    limiter = RateLimiter(3, 10.0, clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("tok_a")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("tok_a")
    assert refused.value.extra["retry_after"] == 10
    limiter.hit("tok_b")  # other tokens have their own budget
    now[0] += 10.0
    limiter.hit("tok_a")
