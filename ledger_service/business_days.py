"""The merchant's business days (``CARDTRAIL_TIMEZONE``, Beijing time by default).

Each day's UTC bounds are worked out here, DST and all, and the database only compares
the stored UTC times with them, so SQLite and PostgreSQL count the same days. The console
(:mod:`portal.dashboard`) and the books (:mod:`ledger_service.books_sql`) share them.

    >>> from zoneinfo import ZoneInfo
    >>> [(d, s.isoformat()) for d, s, _ in day_bounds(["2026-12-02"], ZoneInfo("Asia/Shanghai"))]
    [('2026-12-02', '2026-12-01T16:00:00+00:00')]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, overload

import sqlalchemy as sa


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite gives it back without its zone)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def day_range(until: date, days: int) -> list[str]:
    """The ``days`` days ending with ``until``, oldest first, as ``YYYY-MM-DD``."""
    return [(until - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def business_day(moment: datetime, zone: tzinfo) -> date:
    """The merchant's day that ``moment`` falls on.

    >>> from zoneinfo import ZoneInfo
    >>> business_day(datetime(2026, 12, 1, 16, 30, tzinfo=UTC), ZoneInfo("Asia/Shanghai"))
    datetime.date(2026, 12, 2)
    """
    return utc(moment).astimezone(zone).date()


def day_start(day: date, zone: tzinfo) -> datetime:
    """The UTC instant at which the merchant's ``day`` begins (local midnight).

    >>> from zoneinfo import ZoneInfo
    >>> day_start(date(2026, 12, 2), ZoneInfo("Asia/Shanghai")).isoformat()
    '2026-12-01T16:00:00+00:00'
    """
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def day_bounds(days: Sequence[str], zone: tzinfo) -> list[tuple[str, datetime, datetime]]:
    """``(day, start, end)`` in UTC for each of ``days`` (``YYYY-MM-DD``, consecutive)."""
    bounds = []
    for text in days:
        day = date.fromisoformat(text)
        bounds.append((text, day_start(day, zone), day_start(day + timedelta(days=1), zone)))
    return bounds


def day_of(
    column: sa.ColumnElement[Any], bounds: Sequence[tuple[str, datetime, datetime]]
) -> sa.ColumnElement[str]:
    """The business day of ``column`` (a UTC time), one of ``bounds``'; NULL outside them.

    Comparisons with bound UTC instants read the same on SQLite (ISO text) and PostgreSQL
    (timestamptz), and need no zone database in either.
    """
    return sa.case(
        *((sa.and_(column >= start, column < end), day) for day, start, end in bounds),
        else_=sa.null(),
    )
