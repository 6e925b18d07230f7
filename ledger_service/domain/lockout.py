"""The wrong-code lockout policy, as pure functions over a small frozen state.

Five wrong codes in a row lock a card's code for 15 minutes; each further lock lasts twice
as long as the one before, up to a day. A lock always ends by itself — a card number
printed on a bottle must not let a stranger disable the card for good — and headquarters
can lift it at once, which resets the state to ``LockState()``. A right code ends the run
of failures; the lock count, which sets the next lock's length, is only cleared by
headquarters.

    >>> from datetime import UTC, datetime
    >>> from ledger_service.domain.lockout import LockState, record_failure, locked_for
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> state = LockState()
    >>> for _ in range(5):
    ...     state = record_failure(state, now)
    >>> locked_for(state, now)
    datetime.timedelta(seconds=900)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

MAX_FAILURES = 5
FIRST_LOCK = timedelta(minutes=15)
LONGEST_LOCK = timedelta(days=1)


@dataclass(frozen=True)
class LockState:
    """A card's code lock: failures in the current run, locks so far, end of the lock."""

    failures: int = 0
    locks: int = 0
    locked_until: datetime | None = None


def lock_duration(locks_before: int) -> timedelta:
    """How long the next lock lasts when ``locks_before`` locks already happened."""
    # Capping the exponent keeps the arithmetic small; the cap on the result is the rule.
    doubled: timedelta = FIRST_LOCK * 2 ** min(locks_before, 16)
    return min(doubled, LONGEST_LOCK)


def locked_for(state: LockState, now: datetime) -> timedelta | None:
    """How long the code stays locked from ``now``, or None when it is not locked."""
    if state.locked_until is None or state.locked_until <= now:
        return None
    return state.locked_until - now


def record_failure(state: LockState, now: datetime) -> LockState:
    """The state after one more wrong code; the fifth in a row starts a lock."""
    failures = state.failures + 1
    if failures < MAX_FAILURES:
        return replace(state, failures=failures)
    return LockState(
        failures=0, locks=state.locks + 1, locked_until=now + lock_duration(state.locks)
    )


def record_success(state: LockState) -> LockState:
    """The state after a right code: the run of failures starts again from zero."""
    return replace(state, failures=0)
