"""A card past its date is expired, whether or not the expiry job has written its event.

``cardtrail expire`` (or the scheduler of ``cardtrail up``) writes each EXPIRED event
some time after the date passes; until then the card's row still says ISSUED or
CLAIMED. Commands already refuse such a card (:func:`~ledger_service.domain.lifecycle.
decide`); pages ask :func:`shown_state`, which applies the expiry job's own rule, so that
no page calls a card usable that no command would accept.

    >>> from datetime import UTC, datetime
    >>> noon = datetime(2026, 12, 2, 12, tzinfo=UTC)
    >>> shown_state("CLAIMED", datetime(2026, 12, 1, tzinfo=UTC), noon)
    'EXPIRED'
    >>> shown_state("CLAIMED", datetime(2026, 12, 3, tzinfo=UTC), noon)
    'CLAIMED'
    >>> shown_state("PICKUP_REQUESTED", datetime(2026, 12, 1, tzinfo=UTC), noon)
    'PICKUP_REQUESTED'
"""

from __future__ import annotations

from datetime import datetime

from ledger_service import errors
from ledger_service.domain.lifecycle import Card, CardState, Expire, decide


def shown_state(
    state: str, expires_at: datetime | None, now: datetime, blocked_from: str | None = None
) -> str:
    """``EXPIRED`` when the expiry job would expire the card at ``now``; else ``state``.

    A pickup under way is honoured past the date, as the job honours it.
    """
    if expires_at is None or expires_at > now:
        return state
    card = Card(
        CardState(state),
        expires_at=expires_at,
        blocked_from=CardState(blocked_from) if blocked_from else None,
    )
    try:
        decide(card, Expire(), now)
    except errors.LedgerError:
        return state
    return CardState.EXPIRED.value
