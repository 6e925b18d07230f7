"""The wrong-code lockout policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger_service.domain.lockout import (
    LONGEST_LOCK,
    LockState,
    lock_duration,
    locked_for,
    record_failure,
    record_success,
)

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def fail(state: LockState, times: int, now: datetime = NOW) -> LockState:
    for _ in range(times):
        state = record_failure(state, now)
    return state


def test_four_wrong_codes_do_not_lock():
    state = fail(LockState(), 4)
    assert (state.failures, locked_for(state, NOW)) == (4, None)


def test_the_fifth_wrong_code_in_a_row_locks_for_fifteen_minutes():
    state = fail(LockState(), 5)
    assert locked_for(state, NOW) == timedelta(minutes=15)
    assert locked_for(state, NOW + timedelta(minutes=15)) is None
    assert (state.failures, state.locks) == (0, 1)


def test_each_further_lock_doubles():
    state, now = LockState(), NOW
    for minutes in (15, 30, 60, 120):
        state = fail(state, 5, now)
        assert locked_for(state, now) == timedelta(minutes=minutes)
        now = state.locked_until


def test_locks_never_last_longer_than_a_day():
    assert lock_duration(6) == timedelta(minutes=15 * 64)
    assert lock_duration(7) == LONGEST_LOCK == lock_duration(10_000)


def test_a_right_code_ends_the_run_but_not_the_lock_count():
    state = record_success(fail(LockState(locks=2), 4))
    assert (state.failures, state.locks) == (0, 2)
    assert locked_for(fail(state, 4), NOW) is None
    assert locked_for(fail(state, 5), NOW) == timedelta(minutes=60)
