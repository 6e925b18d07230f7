"""Fixed-window rate limiters: counted in one store, shared through Redis, and still
enforced in each process while the shared store is down."""

from __future__ import annotations

import logging
import socket
import time

import pytest
import redis
from limits.storage import MemoryStorage

from ledger_service.errors import RateLimited
from ledger_service.ratelimit import (
    RECHECK_SECONDS,
    STORE_TIMEOUT_SECONDS,
    CounterStore,
    RateLimiter,
)


def _memory() -> CounterStore:
    return CounterStore.from_uri("memory://")


def _answers(limiter: RateLimiter, key: str, times: int) -> list[bool]:
    """Whether each of ``times`` requests for ``key`` was let through."""
    allowed = []
    for _ in range(times):
        try:
            limiter.hit(key)
        except RateLimited:
            allowed.append(False)
        else:
            allowed.append(True)
    return allowed


def test_rate_limiter_refuses_past_the_limit_with_the_rest_of_the_window_as_retry_after():
    limiter = RateLimiter("api", 3, 10.0, _memory())
    for _ in range(3):
        limiter.hit("tok_a")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("tok_a")
    assert refused.value.extra["retry_after"] == 10
    limiter.hit("tok_b")  # other tokens have their own budget


def test_rate_limiter_lets_a_key_through_again_once_its_window_ends():
    limiter = RateLimiter("api", 2, 1.0, _memory())
    assert _answers(limiter, "tok_a", 3) == [True, True, False]
    time.sleep(1.1)
    assert _answers(limiter, "tok_a", 3) == [True, True, False]


def test_limiters_sharing_a_store_keep_their_counts_apart_by_name():
    store = _memory()
    per_ip, per_card = (
        RateLimiter("per_ip", 2, 60.0, store),
        RateLimiter("per_card", 2, 60.0, store),
    )
    assert _answers(per_ip, "k", 3) == [True, True, False]
    assert _answers(per_card, "k", 2) == [True, True], "a limiter of the same figures counts alone"


def test_an_asyncio_store_is_refused():
    with pytest.raises(ValueError, match="asyncio"):
        CounterStore.from_uri("async+memory://")


def test_a_window_shorter_than_a_second_is_rounded_up_to_one():
    assert RateLimiter("api", 1, 0.2, _memory()).window == 1


class _FlakyStorage(MemoryStorage):
    """A shared store whose connection can be cut (``down``), as a Redis outage would."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return ConnectionError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.calls += 1
        if self.down:
            raise ConnectionError("connection refused")
        return super().incr(key, expiry, amount)


def test_while_the_store_is_down_requests_are_counted_in_the_process_and_the_outage_logged(
    caplog,
):
    now = [0.0]
    shared = _FlakyStorage()
    store = CounterStore(shared, "redis://cache:6379/0", clock=lambda: now[0])
    limiter = RateLimiter("per_ip", 2, 60.0, store)
    shared.down = True
    with caplog.at_level(logging.WARNING, logger="ledger_service.ratelimit"):
        assert _answers(limiter, "ip:a", 4) == [True, True, False, False]
    assert store.degraded
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "one outage, one error line"
    assert "redis://cache:6379/0" in errors[0].getMessage()
    assert shared.calls == 1, "the store is left alone until the recheck interval has passed"

    shared.down = False
    now[0] += RECHECK_SECONDS
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ledger_service.ratelimit"):
        assert _answers(limiter, "ip:a", 3) == [True, True, False], "the shared count resumes"
    assert not store.degraded
    assert ["answers again" in r.getMessage() for r in caplog.records] == [True]


def test_an_unreachable_redis_still_limits_each_process(caplog):
    store = CounterStore.from_uri("redis://:s3cret@127.0.0.1:1/0")  # nothing listens on port 1
    limiter = RateLimiter("per_ip", 2, 60.0, store)
    with caplog.at_level(logging.ERROR, logger="ledger_service.ratelimit"):
        assert _answers(limiter, "ip:a", 3) == [True, True, False]
    [error] = caplog.records
    assert "redis://127.0.0.1:1/0" in error.getMessage() and "s3cret" not in error.getMessage()


def test_a_hung_store_delays_one_request_by_its_timeout_then_none_until_the_recheck():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        limiter = RateLimiter("per_ip", 2, 60.0, CounterStore.from_uri(f"redis://127.0.0.1:{port}"))
        waits = []
        for _ in range(3):
            started = time.monotonic()
            try:
                limiter.hit("ip:a")
            except RateLimited:
                pass
            waits.append(time.monotonic() - started)
    assert waits[0] < STORE_TIMEOUT_SECONDS * 4, waits
    assert max(waits[1:]) < 0.1, waits


@pytest.mark.redis
def test_two_stores_on_one_redis_enforce_one_limit_together(redis_url):
    first = RateLimiter("per_ip", 3, 60.0, CounterStore.from_uri(redis_url))
    second = RateLimiter("per_ip", 3, 60.0, CounterStore.from_uri(redis_url))
    answered = [limiter.hit("ip:a") for limiter in (first, second, first)]
    assert answered == [None, None, None]
    with pytest.raises(RateLimited) as refused:
        second.hit("ip:a")
    assert 0 < refused.value.extra["retry_after"] <= 60
    second.hit("ip:b")  # other clients keep their own budget
    keys = redis.Redis.from_url(redis_url).keys()
    assert keys and all(key.startswith(b"cardtrail:") for key in keys), keys


def test_two_memory_stores_each_count_alone():
    first = RateLimiter("per_ip", 3, 60.0, _memory())
    second = RateLimiter("per_ip", 3, 60.0, _memory())
    assert _answers(first, "ip:a", 3) + _answers(second, "ip:a", 3) == [True] * 6
