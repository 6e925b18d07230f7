"""The books read from the database: the rules of :mod:`ledger_service.books` as SQL
aggregates, so that a million cards are summed by the database, not in Python.

Each figure is one grouped statement over ``cards`` (with its product's ``units``) or
``events`` (with its card); business days are bound in UTC by
:mod:`ledger_service.business_days`, so SQLite and PostgreSQL close the same days.
Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_service.books import (
    CLOSE_TYPES,
    EXPIRED,
    EXPIRING_STATES,
    FINAL_STATES,
    INACTIVE,
    NO_KEY,
    DailyClose,
    Figures,
    close_rows,
)
from ledger_service.business_days import business_day, day_bounds, day_of, day_range, utc
from ledger_service.schema import cards, events, pickups, products

_ZERO = sa.literal(0, sa.BigInteger)
_units = sa.func.coalesce(products.c.units, 1)
_face = sa.func.coalesce(cards.c.face_value, _ZERO)
_underlying = sa.case(
    (sa.and_(cards.c.state == "BLOCKED", cards.c.blocked_from.is_not(None)), cards.c.blocked_from),
    else_=cards.c.state,
)
_value_left = sa.case(
    (cards.c.kind == "stored_value", sa.func.coalesce(cards.c.balance, _ZERO)),
    (cards.c.kind == "count", (_face // _units) * sa.func.coalesce(cards.c.balance, _ZERO)),
    else_=_face,
)
_sold = sa.or_(cards.c.activated_at.is_not(None), _underlying.not_in((INACTIVE, EXPIRED)))
_cards_with_units = cards.outerjoin(products, products.c.sku == cards.c.sku)


def _past_date(as_of: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        _underlying.in_(EXPIRING_STATES),
        cards.c.expires_at.is_not(None),
        cards.c.expires_at <= as_of,
    )


def _owes(as_of: datetime) -> sa.ColumnElement[Any]:
    owing = sa.and_(
        _underlying != INACTIVE,
        _underlying.not_in(FINAL_STATES),
        sa.not_(_past_date(as_of)),
    )
    return sa.case((owing, _value_left), else_=_ZERO)


def _broken(as_of: datetime) -> sa.ColumnElement[Any]:
    lost = sa.and_(_sold, sa.or_(cards.c.state == EXPIRED, _past_date(as_of)))
    return sa.case((lost, _value_left), else_=_ZERO)


def _event_value() -> sa.ColumnElement[Any]:
    moved = sa.func.abs(sa.func.coalesce(events.c.amount, _ZERO))
    face_value = sa.or_(
        events.c.type == "PICKUP_COMPLETED",
        sa.and_(events.c.type == "REDEEMED", cards.c.kind == "pickup"),
    )
    return sa.case(
        (events.c.type == "ACTIVATED", sa.func.coalesce(cards.c.sale_price, _ZERO)),
        (face_value, _face),
        (cards.c.kind == "count", (_face // _units) * moved),
        else_=moved,
    )


def _sum(expression: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(expression), _ZERO)


# --- liability, breakage, by product and by channel ---------------------------------------

KEYS: dict[str, sa.ColumnElement[Any]] = {
    "product": cards.c.sku,
    "channel": cards.c.channel_id,
}
"""What :func:`figures` may group by."""


def figures(
    conn: Connection,
    as_of: datetime,
    by: str | None = None,
    since: datetime | None = None,
    *,
    redemptions: bool = True,
) -> list[Figures]:
    """Sales, outstanding liability and breakage at ``as_of`` per currency — in all
    (``by`` None, key ``NO_KEY``) or per ``product`` or ``channel`` — and, unless
    ``redemptions`` is false (which spares a pass over the events), the value redeemed
    (less refunds) since ``since`` (from the beginning when None)."""
    key = KEYS[by] if by else sa.literal(NO_KEY)
    currency = sa.func.coalesce(cards.c.currency, "")
    sold = cards.c.activated_at.is_not(None)
    query = (
        sa.select(
            key.label("key"),
            currency.label("currency"),
            _sum(sa.case((sold, 1), else_=0)).label("sold"),
            _sum(sa.case((sold, sa.func.coalesce(cards.c.sale_price, _ZERO)), else_=_ZERO)).label(
                "sales"
            ),
            _sum(sa.case((sold, _face), else_=_ZERO)).label("face_value_sold"),
            _sum(_owes(as_of)).label("liability"),
            _sum(_broken(as_of)).label("breakage"),
        )
        .select_from(_cards_with_units)
        .group_by(key, currency)
    )
    table = {
        (r.key or NO_KEY, r.currency): Figures(
            r.key or NO_KEY,
            r.currency,
            int(r.sold),
            int(r.sales),
            int(r.face_value_sold),
            int(r.liability),
            int(r.breakage),
        )
        for r in conn.execute(query)
    }
    if redemptions:
        _add_redemptions(conn, table, key, currency, since)
    rows = [f for f in table.values() if f.sold or f.liability or f.breakage or f.redeemed_value]
    return sorted(rows, key=lambda f: (f.key == NO_KEY, f.key, f.currency))


def _add_redemptions(
    conn: Connection,
    table: dict[tuple[str, str], Figures],
    key: sa.ColumnElement[Any],
    currency: sa.ColumnElement[Any],
    since: datetime | None,
) -> None:
    signed = sa.case((events.c.type == "REFUNDED", -_event_value()), else_=_event_value())
    used = (
        sa.select(key.label("key"), currency.label("currency"), _sum(signed).label("value"))
        .select_from(events.join(_cards_with_units, cards.c.number == events.c.card_number))
        .where(events.c.type.in_(("REDEEMED", "PICKUP_COMPLETED", "REFUNDED")))
        .group_by(key, currency)
    )
    if since is not None:
        used = used.where(events.c.occurred_at >= since)
    for r in conn.execute(used):
        ident = (r.key or NO_KEY, r.currency)
        table.setdefault(ident, Figures(*ident)).redeemed_value += int(r.value)


def liability(conn: Connection, as_of: datetime) -> dict[str, int]:
    """Outstanding liability per currency at ``as_of``."""
    owed = figures(conn, as_of, redemptions=False)
    return {f.currency: f.liability for f in owed if f.liability}


def breakage(conn: Connection, as_of: datetime) -> dict[str, int]:
    """Breakage per currency at ``as_of``."""
    lost = figures(conn, as_of, redemptions=False)
    return {f.currency: f.breakage for f in lost if f.breakage}


# --- the daily close ---------------------------------------------------------------------


def daily_close(
    conn: Connection,
    now: datetime,
    days: int,
    zone: tzinfo,
    store_id: str | None = None,
) -> list[DailyClose]:
    """Each store's daily close (日结) over the ``days`` business days (in ``zone``) up to
    and including ``now``'s; one store's with ``store_id``."""
    return close_between(conn, day_range(business_day(now, zone), days), zone, store_id)


def close_between(
    conn: Connection, day_list: Sequence[str], zone: tzinfo, store_id: str | None = None
) -> list[DailyClose]:
    """The daily close of the consecutive business days ``day_list`` (``YYYY-MM-DD``)."""
    bounds = day_bounds(day_list, zone)
    day = day_of(events.c.occurred_at, bounds).label("day")
    currency = sa.func.coalesce(cards.c.currency, "").label("currency")
    query = (
        sa.select(
            day,
            events.c.store_id,
            currency,
            events.c.type,
            sa.func.count().label("n"),
            _sum(_event_value()).label("value"),
        )
        .select_from(events.join(_cards_with_units, cards.c.number == events.c.card_number))
        .where(
            events.c.type.in_(CLOSE_TYPES),
            events.c.occurred_at >= bounds[0][1],
            events.c.occurred_at < bounds[-1][2],
        )
        .group_by(day, events.c.store_id, currency, events.c.type)
    )
    if store_id is not None:
        query = query.where(events.c.store_id == store_id)
    return close_rows(
        (r.day, r.store_id, r.currency, r.type, int(r.n), int(r.value)) for r in conn.execute(query)
    )


# --- reminders and deliveries -----------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """A sold, unused card whose date is near: its holder may want to be told."""

    card_number: str
    product: str
    kind: str
    state: str
    expires_at: datetime
    currency: str
    value_left: int
    holder_ref: str | None


def expiring_within(
    conn: Connection, now: datetime, days: int, limit: int | None = None
) -> tuple[int, list[Reminder]]:
    """How many sold, unused cards expire within ``days`` days of ``now``, and (up to
    ``limit``) which, soonest first. Read through the ``expires_at`` index."""
    window = sa.and_(
        cards.c.expires_at > now,
        cards.c.expires_at <= now + timedelta(days=days),
        cards.c.state.in_(EXPIRING_STATES),
    )
    total = conn.execute(sa.select(sa.func.count()).select_from(cards).where(window)).scalar_one()
    query = (
        sa.select(
            cards.c.number,
            cards.c.product,
            cards.c.kind,
            cards.c.state,
            cards.c.expires_at,
            sa.func.coalesce(cards.c.currency, "").label("currency"),
            _value_left.label("value_left"),
            cards.c.holder_ref,
        )
        .select_from(_cards_with_units)
        .where(window)
        .order_by(cards.c.expires_at, cards.c.number)
    )
    if limit is not None:
        query = query.limit(limit)
    reminders = [
        Reminder(
            r.number,
            r.product,
            r.kind,
            r.state,
            utc(r.expires_at),
            r.currency,
            int(r.value_left),
            r.holder_ref,
        )
        for r in conn.execute(query)
    ]
    return total, reminders


OPEN_DELIVERY_STATES = ("PICKUP_REQUESTED", "PICKUP_REVIEWED", "PICKUP_READY", "PICKUP_SHIPPED")
"""Where a delivery is while headquarters still has to check, ship or confirm it."""


@dataclass(frozen=True)
class OpenDelivery:
    """A delivery pickup not yet completed."""

    pickup_id: str
    card_number: str
    product: str
    state: str
    address_ref: str | None
    requested_at: datetime
    updated_at: datetime


def open_deliveries(conn: Connection, limit: int = 500) -> list[OpenDelivery]:
    """Deliveries waiting for headquarters, oldest request first."""
    rows = conn.execute(
        sa.select(
            pickups.c.id,
            pickups.c.card_number,
            cards.c.product,
            pickups.c.state,
            pickups.c.address_ref,
            pickups.c.requested_at,
            pickups.c.updated_at,
        )
        .join(cards, cards.c.number == pickups.c.card_number)
        .where(pickups.c.mode == "delivery", pickups.c.state.in_(OPEN_DELIVERY_STATES))
        .order_by(pickups.c.requested_at, pickups.c.id)
        .limit(limit)
    )
    return [
        OpenDelivery(
            r.id,
            r.card_number,
            r.product,
            r.state,
            r.address_ref,
            utc(r.requested_at),
            utc(r.updated_at),
        )
        for r in rows
    ]
