"""The ``cards`` and ``stores`` rows as the commands read them, and the statements that do.

The hot commands' statements are built once: the SET columns of the card update come from
the parameters, so one statement serves every command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger_service import errors
from ledger_service.domain import lockout
from ledger_service.domain.lifecycle import Card, CardState, EventDraft, Store
from ledger_service.events import format_timestamp
from ledger_service.schema import cards, pickups, stores

_select_card = sa.select(cards).where(cards.c.number == sa.bindparam("for_number"))
_select_card_for_update = _select_card.with_for_update()
_select_store = sa.select(stores).where(stores.c.id == sa.bindparam("for_store"))
_select_pickup = sa.select(pickups).where(pickups.c.id == sa.bindparam("for_pickup"))
update_card = sa.update(cards).where(
    cards.c.number == sa.bindparam("for_number"), cards.c.seq == sa.bindparam("at_seq")
)
"""Move a card on from the ``at_seq`` it was read at (parameters: the columns to set)."""


def utc(moment: datetime | None) -> datetime | None:
    """Datetimes read back from either database, as aware UTC (SQLite drops the zone)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stamp(moment: datetime | None) -> str | None:
    """A stored time as the events write it (RFC 3339, milliseconds, ``Z``)."""
    return None if moment is None else format_timestamp(moment)


def card_or_404(conn: Connection, number: str, *, lock: bool = False) -> Row[Any]:
    """The card's row (``lock``: for update), or CARD_NOT_FOUND."""
    query = _select_card_for_update if lock else _select_card
    row = conn.execute(query, {"for_number": number}).first()
    if row is None:
        raise errors.CardNotFound("no card has this number")
    return row


def store_row(conn: Connection, store_id: str) -> Row[Any] | None:
    """The store's row, if there is one."""
    return conn.execute(_select_store, {"for_store": store_id}).first()


def store_or_404(conn: Connection, store_id: str) -> Store:
    """The store as the lifecycle rules see it, or STORE_NOT_FOUND."""
    row = store_row(conn, store_id)
    if row is None:
        raise errors.StoreNotFound(f"store {store_id} does not exist")
    return Store(row.id, row.name, row.region)


def pickup_or_404(conn: Connection, pickup_id: str) -> Row[Any]:
    """The pickup's row, or PICKUP_NOT_FOUND."""
    row = conn.execute(_select_pickup, {"for_pickup": pickup_id}).first()
    if row is None:
        raise errors.PickupNotFound(f"no pickup {str(pickup_id)[:40]!r}")
    return row


def card_of(row: Row[Any]) -> Card:
    """What the lifecycle rules need to know of a card row."""
    return Card(
        state=CardState(row.state),
        expires_at=utc(row.expires_at),
        allowed_stores=frozenset(json.loads(row.allowed_stores)),
        allowed_regions=frozenset(json.loads(row.allowed_regions)),
        blocked_from=CardState(row.blocked_from) if row.blocked_from else None,
        kind=row.kind,
        balance=row.balance,
        face_value=row.face_value,
    )


def balance_values(draft: EventDraft) -> dict[str, Any]:
    """The card columns a value event sets (its balance after), none for other events."""
    return {"balance": draft.data["balance"]} if "balance" in draft.data else {}


def lock_state(row: Row[Any]) -> lockout.LockState:
    """The card row's run of wrong codes and its lock."""
    return lockout.LockState(row.code_failures, row.code_locks, utc(row.code_locked_until))


def lock_values(state: lockout.LockState) -> dict[str, Any]:
    """The card columns that hold ``state``."""
    return {
        "code_failures": state.failures,
        "code_locks": state.locks,
        "code_locked_until": state.locked_until,
    }
