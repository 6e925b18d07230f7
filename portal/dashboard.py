"""The console's numbers: SQL aggregates over the ledger's tables, and chart geometry.

Every query is a single aggregate or a short indexed list, so the dashboard stays quick
with a million cards: daily activity reads ``events`` through its ``(type, occurred_at)``
index, pickups through ``(store_id, state)``, expiring cards through ``expires_at``, and
locked codes start from the ``code_locked`` anomalies of the last day (no lock lasts
longer), never from a scan of ``cards``. Days are the merchant's business days
(``CARDTRAIL_TIMEZONE``, Beijing time by default; :mod:`ledger_service.business_days`).
Money comes from the books (:mod:`ledger_service.books_sql`).

Nothing here writes, and nothing here renders: views pass these values to templates.

    >>> chart = bar_chart(["2026-11-23", "2026-11-24"], {"REDEEMED": [2, 4]})
    >>> [(bar.value, bar.height) for bar in chart.bars]
    [(2, 60.0), (4, 120.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_service.business_days import business_day as business_day
from ledger_service.business_days import day_bounds as day_bounds
from ledger_service.business_days import day_of, utc
from ledger_service.business_days import day_range as day_range
from ledger_service.business_days import day_start as day_start
from ledger_service.domain import lockout
from ledger_service.schema import anomalies, cards, code_failures, events, pickups, stores
from ledger_service.service import stock

ACTIVITY_TYPES = ("ISSUED", "PICKUP_COMPLETED", "REDEEMED")
"""The event types the dashboard counts per store and day: issued, picked up, redeemed."""
UNUSED_STATES = ("ISSUED", "CLAIMED", "TRANSFERRED")
OPEN_PICKUP_STATES = ("PICKUP_REQUESTED", "PICKUP_READY", "PICKUP_REVIEWED", "PICKUP_SHIPPED")
NO_STORE = ""
"""The key of activity outside any store (issuing at headquarters, delivery pickups)."""
WRONG_CODE_BURST = 3
"""Wrong codes for one card within a day that the dashboard lists as a burst."""


# --- activity per store and day ----------------------------------------------------------


@dataclass(frozen=True)
class StoreActivity:
    """Issued, picked-up and redeemed counts of one store (``NO_STORE``: none) in a window."""

    store_id: str
    name: str
    issued: int = 0
    picked_up: int = 0
    redeemed: int = 0


@dataclass(frozen=True)
class Activity:
    """Counts of :data:`ACTIVITY_TYPES` per day and store over a window of days."""

    days: tuple[str, ...]
    # (day, store_id or NO_STORE, type) -> count
    counts: Mapping[tuple[str, str, str], int]

    def series(self, type_: str, store_id: str | None = None) -> list[int]:
        """Per-day counts of ``type_`` (all stores, or one) in day order."""
        return [
            sum(
                n
                for (d, s, t), n in self.counts.items()
                if d == day and t == type_ and (store_id is None or s == store_id)
            )
            for day in self.days
        ]

    def total(self, type_: str, store_id: str | None = None) -> int:
        """The window's total of ``type_`` (all stores, or one)."""
        return sum(self.series(type_, store_id))

    def daily_rows(self) -> list[tuple[str, str, int, int, int]]:
        """``(day, store_id, issued, picked_up, redeemed)`` for each day and store with
        activity, newest day first."""
        keys = sorted({(d, s) for (d, s, _) in self.counts}, key=lambda k: (k[0], k[1]))
        return [
            (
                d,
                s,
                self.counts.get((d, s, "ISSUED"), 0),
                self.counts.get((d, s, "PICKUP_COMPLETED"), 0),
                self.counts.get((d, s, "REDEEMED"), 0),
            )
            for d, s in reversed(keys)
        ]

    def by_store(self, names: Mapping[str, str]) -> list[StoreActivity]:
        """One row per store with activity or a name, stores first and no-store last."""
        ids = set(names) | {s for (_, s, _) in self.counts}
        rows = [
            StoreActivity(
                store_id=s,
                name=names.get(s, "Headquarters / delivery" if s == NO_STORE else s),
                issued=self.total("ISSUED", s),
                picked_up=self.total("PICKUP_COMPLETED", s),
                redeemed=self.total("REDEEMED", s),
            )
            for s in ids
        ]
        return sorted(rows, key=lambda row: (row.store_id == NO_STORE, row.store_id))


def activity(
    conn: Connection,
    now: datetime,
    days: int = 14,
    store_id: str | None = None,
    zone: tzinfo = UTC,
) -> Activity:
    """Issued / picked-up / redeemed events per business day (in ``zone``) and store,
    the ``days`` days up to and including ``now``'s."""
    day_list = day_range(business_day(now, zone), days)
    bounds = day_bounds(day_list, zone)
    day = day_of(events.c.occurred_at, bounds).label("day")
    in_window = sa.and_(events.c.occurred_at >= bounds[0][1], events.c.occurred_at < bounds[-1][2])
    used = sa.select(day, events.c.store_id, events.c.type, sa.func.count().label("n"))
    if store_id is None:
        used = used.where(events.c.type.in_(ACTIVITY_TYPES[1:]), in_window)
        # Headquarters issues cards, never a store, and issued events are most of the log:
        # counting them per day needs nothing but the (type, occurred_at) index.
        issued = (
            sa.select(day, sa.func.count().label("n"))
            .where(events.c.type == "ISSUED", in_window)
            .group_by(day)
        )
        counts = {(row.day, NO_STORE, "ISSUED"): row.n for row in conn.execute(issued)}
    else:
        used = used.where(
            events.c.store_id == store_id, in_window, events.c.type.in_(ACTIVITY_TYPES)
        )
        counts = {}
    for row in conn.execute(used.group_by(day, events.c.store_id, events.c.type)):
        counts[(row.day, row.store_id or NO_STORE, row.type)] = row.n
    return Activity(tuple(day_list), {k: n for k, n in counts.items() if k[0] in day_list})


def store_names(conn: Connection) -> dict[str, str]:
    """Every store's name by id."""
    return dict(conn.execute(sa.select(stores.c.id, stores.c.name)).all())


# --- pickups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickupRate:
    """How a store's pickups went: requested in all, completed, still open."""

    store_id: str
    requested: int
    completed: int
    open: int

    @property
    def percent(self) -> int | None:
        """Completed as a whole percentage of requested (None before any request)."""
        return None if self.requested == 0 else round(100 * self.completed / self.requested)


def pickup_rates(conn: Connection, store_id: str | None = None) -> list[PickupRate]:
    """Pickup completion per pickup store (``NO_STORE`` for deliveries)."""
    query = sa.select(pickups.c.store_id, pickups.c.state, sa.func.count().label("n")).group_by(
        pickups.c.store_id, pickups.c.state
    )
    if store_id is not None:
        query = query.where(pickups.c.store_id == store_id)
    tally: dict[str, dict[str, int]] = {}
    for row in conn.execute(query):
        tally.setdefault(row.store_id or NO_STORE, {})[row.state] = row.n
    return [
        PickupRate(
            store_id=s,
            requested=sum(states.values()),
            completed=states.get("PICKUP_COMPLETED", 0),
            open=sum(states.get(state, 0) for state in OPEN_PICKUP_STATES),
        )
        for s, states in sorted(tally.items(), key=lambda item: (item[0] == NO_STORE, item[0]))
    ]


@dataclass(frozen=True)
class PendingPickup:
    """A pickup a store still has to hand over."""

    pickup_id: str
    card_number: str
    product: str
    state: str
    requested_at: datetime


def pending_pickups(conn: Connection, store_id: str, limit: int = 200) -> list[PendingPickup]:
    """The store's pickups waiting to be made ready or collected, oldest first."""
    rows = conn.execute(
        sa.select(
            pickups.c.id,
            pickups.c.card_number,
            pickups.c.state,
            pickups.c.requested_at,
            cards.c.product,
        )
        .join(cards, cards.c.number == pickups.c.card_number)
        .where(
            pickups.c.store_id == store_id,
            pickups.c.state.in_(("PICKUP_REQUESTED", "PICKUP_READY")),
        )
        .order_by(pickups.c.requested_at, pickups.c.id)
        .limit(limit)
    )
    return [
        PendingPickup(r.id, r.card_number, r.product, r.state, utc(r.requested_at)) for r in rows
    ]


# --- cards that need attention -----------------------------------------------------------


@dataclass(frozen=True)
class ExpiringCard:
    """An unused card whose date is near."""

    card_number: str
    product: str
    state: str
    expires_at: datetime


def expiring_cards(
    conn: Connection, now: datetime, within: timedelta = timedelta(days=30), limit: int = 20
) -> tuple[int, list[ExpiringCard]]:
    """How many unused cards expire within ``within`` of ``now``, and the soonest of them."""
    window = sa.and_(
        cards.c.expires_at > now,
        cards.c.expires_at <= now + within,
        cards.c.state.in_(UNUSED_STATES),
    )
    total = conn.execute(sa.select(sa.func.count()).select_from(cards).where(window)).scalar_one()
    rows = conn.execute(
        sa.select(cards.c.number, cards.c.product, cards.c.state, cards.c.expires_at)
        .where(window)
        .order_by(cards.c.expires_at, cards.c.number)
        .limit(limit)
    )
    return total, [ExpiringCard(r.number, r.product, r.state, utc(r.expires_at)) for r in rows]


@dataclass(frozen=True)
class LockedCode:
    """A card whose redemption code is locked after wrong codes."""

    card_number: str
    product: str
    locked_until: datetime
    locks: int


def locked_codes(conn: Connection, now: datetime) -> list[LockedCode]:
    """Cards whose code is locked at ``now``, soonest unlock first."""
    # A lock lasts at most LONGEST_LOCK and always starts with a code_locked anomaly, so the
    # recent anomalies name every candidate without scanning the cards table.
    candidates = (
        sa.select(anomalies.c.card_number)
        .where(
            anomalies.c.kind == "code_locked",
            anomalies.c.at >= now - lockout.LONGEST_LOCK,
            anomalies.c.card_number.is_not(None),
        )
        .distinct()
    )
    rows = conn.execute(
        sa.select(cards.c.number, cards.c.product, cards.c.code_locked_until, cards.c.code_locks)
        .where(cards.c.number.in_(candidates), cards.c.code_locked_until > now)
        .order_by(cards.c.code_locked_until, cards.c.number)
    )
    return [LockedCode(r.number, r.product, utc(r.code_locked_until), r.code_locks) for r in rows]


# --- anomalies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AnomalyRow:
    """One flagged refusal (kinds: see ``ledger_service.service.ANOMALY_KINDS``)."""

    kind: str
    card_number: str | None
    store_id: str | None
    at: datetime
    actor: str
    detail: str


@dataclass(frozen=True)
class WrongCodeBurst:
    """Several wrong codes for one card within a day."""

    card_number: str
    failures: int
    stores: tuple[str, ...]
    last_at: datetime


@dataclass(frozen=True)
class Anomalies:
    """What the dashboard flags over a window: counts per kind, the newest, wrong-code bursts."""

    counts: Mapping[str, int]
    recent: Sequence[AnomalyRow]
    bursts: Sequence[WrongCodeBurst] = field(default_factory=tuple)


def anomaly_report(
    conn: Connection, now: datetime, since: timedelta = timedelta(days=7), limit: int = 30
) -> Anomalies:
    """Anomalies of the last ``since``, and cards with :data:`WRONG_CODE_BURST`+ wrong
    codes in the last day."""
    start = now - since
    counts: dict[str, int] = dict(
        conn.execute(
            sa.select(anomalies.c.kind, sa.func.count())
            .where(anomalies.c.at >= start)
            .group_by(anomalies.c.kind)
        ).all()
    )
    recent = [
        AnomalyRow(
            r.kind,
            r.card_number,
            r.store_id,
            utc(r.at),
            f"{r.actor_role}:{r.actor_id}",
            r.detail,
        )
        for r in conn.execute(
            sa.select(anomalies)
            .where(anomalies.c.at >= start)
            .order_by(anomalies.c.at.desc(), anomalies.c.id.desc())
            .limit(limit)
        )
    ]
    return Anomalies(counts, recent, wrong_code_bursts(conn, now))


def wrong_code_bursts(
    conn: Connection, now: datetime, window: timedelta = timedelta(days=1), limit: int = 20
) -> list[WrongCodeBurst]:
    """Cards that got at least :data:`WRONG_CODE_BURST` wrong codes in ``window``."""
    recent = sa.and_(code_failures.c.at >= now - window, code_failures.c.outcome == "wrong")
    rows = conn.execute(
        sa.select(
            code_failures.c.card_number,
            sa.func.count().label("n"),
            sa.func.max(code_failures.c.at).label("last_at"),
        )
        .where(recent)
        .group_by(code_failures.c.card_number)
        .having(sa.func.count() >= WRONG_CODE_BURST)
        .order_by(sa.func.count().desc(), code_failures.c.card_number)
        .limit(limit)
    ).all()
    where: dict[str, set[str]] = {}
    numbers = [r.card_number for r in rows]
    if numbers:
        for number, store in conn.execute(
            sa.select(code_failures.c.card_number, code_failures.c.store_id)
            .where(recent, code_failures.c.card_number.in_(numbers))
            .distinct()
        ):
            where.setdefault(number, set()).add(store or NO_STORE)
    return [
        WrongCodeBurst(
            r.card_number, r.n, tuple(sorted(where.get(r.card_number, ()))), utc(r.last_at)
        )
        for r in rows
    ]


# --- charts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, in the chart's own coordinates (origin top left)."""

    series: str
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    """A grouped bar chart laid out for an inline SVG ``viewBox``."""

    width: float
    height: float
    baseline: float
    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, str], ...]
    maximum: int
    series: tuple[str, ...]


def bar_chart(
    days: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    width: float = 640,
    plot_height: float = 120,
    label_every: int | None = None,
) -> Chart:
    """Lay out one group of bars per day, one bar per series, scaled to the largest value.

    Pure geometry: the template draws it as SVG ``rect`` elements, so no script and
    nothing from outside renders the dashboard.
    """
    names = tuple(series)
    maximum = max((v for values in series.values() for v in values), default=0)
    slot = width / max(1, len(days))
    bar_width = slot * 0.8 / max(1, len(names))
    scale = plot_height / maximum if maximum else 0.0
    bars = []
    for i, day in enumerate(days):
        for j, name in enumerate(names):
            value = series[name][i]
            height = round(value * scale, 1)
            bars.append(
                Bar(
                    series=name,
                    label=day,
                    value=value,
                    x=round(i * slot + slot * 0.1 + j * bar_width, 1),
                    y=round(plot_height - height, 1),
                    width=round(bar_width, 1),
                    height=height,
                )
            )
    step = label_every or max(1, len(days) // 7)
    labels = tuple(
        (round(i * slot + slot / 2, 1), day[5:]) for i, day in enumerate(days) if i % step == 0
    )
    return Chart(width, plot_height + 20, plot_height, tuple(bars), labels, maximum, names)


def daily_chart(act: Activity, store_id: str | None = None) -> Chart:
    """The dashboard's chart: issued, picked up and redeemed per day."""
    return bar_chart(
        act.days,
        {
            "issued": act.series("ISSUED", store_id),
            "picked up": act.series("PICKUP_COMPLETED", store_id),
            "redeemed": act.series("REDEEMED", store_id),
        },
    )


def state_counts(conn: Connection) -> dict[str, int]:
    """Cards per state (read through the ``state`` index)."""
    query = sa.select(cards.c.state, sa.func.count()).group_by(cards.c.state)
    return dict(conn.execute(query).all())


# --- low stock (stores and stock) ---------------------------------------------------------

LOW_STOCK_SHOWN = 50
"""The most low-stock lines the dashboard lists (emptiest first)."""


def low_stock(conn: Connection, limit: int = LOW_STOCK_SHOWN) -> list[stock.StockLine]:
    """Stock lines at or below their low-water mark, emptiest first (a warning each)."""
    return stock.low_stock(conn)[:limit]
