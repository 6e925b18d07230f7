"""The books against a worked example computed by hand: the pure rules
(:mod:`ledger_service.books`) and the SQL readers (:mod:`ledger_service.books_sql`, on
SQLite and PostgreSQL) must both give the hand-made figures.

The example's cards and events follow the shared contract (kinds, states, ``events.amount``
as the signed change of the balance); the value commands are another area's, so the SQL
half writes the same rows the ledger would, straight into ``cards`` and ``events``.

Products (CNY): SV500 stored value, face ¥500.00; TEA pickup card, face ¥299.00; WASH
count card, face ¥100.00 for 3 uses (¥33.33 a use, rounded down). GIFT: stored value,
face $100.00 (USD). The books are taken at 2026-12-02 12:00 Beijing time (04:00 UTC).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from anchoring.db import read_transaction, write_transaction
from ledger_service import books, books_sql, db
from ledger_service.books import CardRecord, DailyClose, Figures, ValueEvent
from ledger_service.schema import cards, events, products, stores

BEIJING = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 12:00 on 2 December in Beijing


def bj(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    """A Beijing wall-clock time as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


SOLD = bj(1, 9)
PRODUCTS = {  # sku: (kind, face value, currency, units)
    "SV500": ("stored_value", 50000, "CNY", 1),
    "TEA": ("pickup", 29900, "CNY", 1),
    "WASH": ("count", 10000, "CNY", 3),
    "GIFT": ("stored_value", 10000, "USD", 1),
}


def card(number: str, sku: str, state: str, **fields) -> CardRecord:
    kind, face_value, currency, units = PRODUCTS[sku]
    return CardRecord(
        number,
        kind,
        state,
        sku=sku,
        face_value=face_value,
        currency=currency,
        units=units,
        **fields,
    )


CARDS = [
    # A: sold on Tmall for ¥480; ¥120 and ¥80 spent at S1, ¥30 refunded: 500-120-80+30 = 330.
    card(
        "A",
        "SV500",
        "CLAIMED",
        balance=33000,
        channel_id="tmall",
        sale_price=48000,
        activated_at=SOLD,
    ),
    # B: sold at S1 for ¥299, not yet used: owes its face value.
    card("B", "TEA", "ISSUED", channel_id="store-S1", sale_price=29900, activated_at=SOLD),
    # C: still in stock (never sold): owes nothing.
    card("C", "TEA", "INACTIVE"),
    # D: sold on Tmall for ¥270, goods handed over at S2: owes nothing.
    card("D", "TEA", "PICKUP_COMPLETED", channel_id="tmall", sale_price=27000, activated_at=SOLD),
    # E: sold for ¥500, ¥455 spent in November, expired with ¥45 left: breakage.
    card(
        "E",
        "SV500",
        "EXPIRED",
        balance=4500,
        channel_id="tmall",
        sale_price=50000,
        activated_at=bj(1, 9, month=11),
        expires_at=bj(30, 0, month=11),
    ),
    # F: sold at S1 for ¥90, one of three uses taken at S2: 2 uses × ¥33.33 owed.
    card(
        "F", "WASH", "CLAIMED", balance=2, channel_id="store-S1", sale_price=9000, activated_at=SOLD
    ),
    # G: sold, unused, its date passed this morning, the expiry job has not run: breakage.
    card(
        "G",
        "TEA",
        "ISSUED",
        channel_id="tmall",
        sale_price=29900,
        activated_at=SOLD,
        expires_at=bj(2, 0),
    ),
    # H: sold and blocked while unused: still owed (it can be unblocked).
    card(
        "H",
        "TEA",
        "BLOCKED",
        blocked_from="ISSUED",
        channel_id="tmall",
        sale_price=29900,
        activated_at=SOLD,
    ),
    # I: stored-value stock, never sold: no balance, owes nothing.
    card("I", "SV500", "INACTIVE"),
    # J: sold online for $100 with $20 on it, topped up $5 today: $25 owed.
    card(
        "J", "GIFT", "ISSUED", balance=2500, channel_id="web", sale_price=10000, activated_at=SOLD
    ),
]
BY_NUMBER = {c.number: c for c in CARDS}

# (card, type, when, store, amount: the signed change of the balance)
EVENTS = [
    ("E", "REDEEMED", bj(20, 15, month=11), "S1", -45500),  # before the close's window
    ("A", "ACTIVATED", SOLD, None, None),  # sold online: no store
    ("B", "ACTIVATED", SOLD, "S1", None),
    ("F", "ACTIVATED", SOLD, "S1", None),
    ("A", "REDEEMED", bj(1, 10), "S1", -12000),
    ("A", "REDEEMED", bj(1, 23, 30), "S1", -8000),  # 15:30 UTC: still 1 December in Beijing
    ("F", "REDEEMED", bj(1, 18), "S2", -1),
    ("A", "REFUNDED", bj(2, 0, 30), "S1", 3000),  # 16:30 UTC on 1 Dec, but 2 Dec in Beijing
    ("D", "PICKUP_COMPLETED", bj(2, 9), "S2", None),
    ("J", "LOADED", bj(2, 10), None, 500),
]


def value_events() -> list[ValueEvent]:
    out = []
    for number, type_, at, store, amount in EVENTS:
        c = BY_NUMBER[number]
        out.append(
            ValueEvent(
                type_,
                at,
                store,
                c.kind,
                c.currency,
                amount,
                c.face_value,
                c.units,
                c.sale_price,
                c.sku,
                c.channel_id,
            )
        )
    return out


# --- the figures, by hand ----------------------------------------------------------------

# Liability: A 330.00 + B 299.00 + F 2 × 33.33 + H 299.00 (C, I inactive; D used; E expired;
# G past its date) = ¥994.66; J $25.00.
LIABILITY = {"CNY": 33000 + 29900 + 2 * 3333 + 29900, "USD": 2500}
# Breakage: E's ¥45.00 left + G's ¥299.00 = ¥344.00.
BREAKAGE = {"CNY": 4500 + 29900}
# The daily close of 1 and 2 December (Beijing time), newest first, stores, no-store last.
CLOSE = [
    # 2 Dec, S1: A's refund of ¥30: net -¥30.
    DailyClose("2026-12-02", "S1", "CNY", refunded=1, refunded_value=3000),
    # 2 Dec, S2: D's goods handed over, worth its face value ¥299.
    DailyClose("2026-12-02", "S2", "CNY", picked_up=1, picked_up_value=29900),
    # 2 Dec, no store: J's top-up of $5.
    DailyClose("2026-12-02", "", "USD", loaded=1, loaded_value=500),
    # 1 Dec, S1: A's ¥120 + ¥80; sold B (¥299) and F (¥90).
    DailyClose(
        "2026-12-01",
        "S1",
        "CNY",
        redeemed=2,
        redeemed_value=12000 + 8000,
        sold=2,
        sold_value=29900 + 9000,
    ),
    # 1 Dec, S2: one use of F, ¥33.33.
    DailyClose("2026-12-01", "S2", "CNY", redeemed=1, redeemed_value=3333),
    # 1 Dec, no store: A sold online for ¥480.
    DailyClose("2026-12-01", "", "CNY", sold=1, sold_value=48000),
]
CLOSE_NETS = [-3000, 29900, 0, 20000, 3333, 0]
BY_PRODUCT = [
    # GIFT: J.
    Figures("GIFT", "USD", sold=1, sales=10000, face_value_sold=10000, liability=2500),
    # SV500: A and E sold (480 + 500); A owes 330; E broke 45; redeemed 120+80-30 (A) + 455 (E).
    Figures(
        "SV500",
        "CNY",
        sold=2,
        sales=48000 + 50000,
        face_value_sold=2 * 50000,
        liability=33000,
        breakage=4500,
        redeemed_value=12000 + 8000 - 3000 + 45500,
    ),
    # TEA: B, D, G, H sold; B and H owe; G broke; D picked up.
    Figures(
        "TEA",
        "CNY",
        sold=4,
        sales=29900 + 27000 + 29900 + 29900,
        face_value_sold=4 * 29900,
        liability=2 * 29900,
        breakage=29900,
        redeemed_value=29900,
    ),
    # WASH: F sold for 90; 2 uses owed; 1 use redeemed.
    Figures(
        "WASH",
        "CNY",
        sold=1,
        sales=9000,
        face_value_sold=10000,
        liability=2 * 3333,
        redeemed_value=3333,
    ),
]
BY_CHANNEL = [
    # store-S1: B and F.
    Figures(
        "store-S1",
        "CNY",
        sold=2,
        sales=29900 + 9000,
        face_value_sold=29900 + 10000,
        liability=29900 + 2 * 3333,
        redeemed_value=3333,
    ),
    # tmall: A, D, E, G, H.
    Figures(
        "tmall",
        "CNY",
        sold=5,
        sales=48000 + 27000 + 50000 + 29900 + 29900,
        face_value_sold=50000 + 29900 + 50000 + 29900 + 29900,
        liability=33000 + 29900,
        breakage=4500 + 29900,
        redeemed_value=17000 + 29900 + 45500,
    ),
    Figures("web", "USD", sold=1, sales=10000, face_value_sold=10000, liability=2500),
]


# --- the pure rules ------------------------------------------------------------------------


def test_liability_and_breakage_by_hand():
    assert books.liability(CARDS, AS_OF) == LIABILITY
    assert books.breakage(CARDS, AS_OF) == BREAKAGE


def test_daily_close_by_hand_in_beijing_days():
    rows = [r for r in books.daily_close(value_events(), BEIJING) if r.day >= "2026-12-01"]
    assert rows == CLOSE
    assert [r.net for r in rows] == CLOSE_NETS


def test_the_same_events_close_other_days_in_utc():
    # A's refund at 00:30 Beijing time is still 1 December in UTC.
    rows = books.daily_close(value_events(), UTC)
    s1 = next(r for r in rows if r.day == "2026-12-01" and r.store_id == "S1")
    assert (s1.redeemed_value, s1.refunded_value) == (20000, 3000)


def test_figures_by_product_and_channel_by_hand():
    assert books.figures_by(CARDS, value_events(), books.by_product, AS_OF) == BY_PRODUCT
    assert books.figures_by(CARDS, value_events(), books.by_channel, AS_OF) == BY_CHANNEL


def test_a_card_past_its_date_owes_nothing_only_once_the_date_passed():
    g = BY_NUMBER["G"]
    before = g.expires_at - timedelta(seconds=1)
    assert (books.owes(g, before), books.broken(g, before)) == (29900, 0)
    assert (books.owes(g, AS_OF), books.broken(g, AS_OF)) == (0, 29900)


def test_an_unsold_card_that_expires_lost_nothing():
    expired_stock = dataclasses.replace(BY_NUMBER["C"], state="EXPIRED")
    assert books.broken(expired_stock, AS_OF) == 0


def test_a_pickup_under_way_is_still_owed_after_its_date():
    requested = dataclasses.replace(BY_NUMBER["G"], state="PICKUP_REQUESTED")
    assert (books.owes(requested, AS_OF), books.broken(requested, AS_OF)) == (29900, 0)


# --- the same figures from SQL ------------------------------------------------------------


@pytest.fixture
def example(engine):
    """The example's stores, products, cards and events written into a fresh database."""
    db.upgrade(engine)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with write_transaction(engine) as conn:
        for store_id in ("S1", "S2"):
            conn.execute(
                sa.insert(stores).values(id=store_id, name=store_id, region="east", created_at=now)
            )
        for sku, (kind, face_value, currency, units) in PRODUCTS.items():
            conn.execute(
                sa.insert(products).values(
                    sku=sku,
                    name_zh=sku,
                    name_en=sku,
                    kind=kind,
                    face_value=face_value,
                    currency=currency,
                    units=units,
                    created_at=now,
                )
            )
        for c in CARDS:
            conn.execute(
                sa.insert(cards).values(
                    number=f"{c.number:0>17}",
                    salt=bytes(16),
                    code_hash=bytes(32),
                    state=c.state,
                    blocked_from=c.blocked_from,
                    product=c.sku,
                    face_value=c.face_value,
                    currency=c.currency,
                    allowed_stores="[]",
                    allowed_regions="[]",
                    expires_at=c.expires_at,
                    seq=0,
                    last_event_hash="00" * 32,
                    batch_ref="EX",
                    issued_at=now,
                    updated_at=now,
                    code_failures=0,
                    code_locks=0,
                    kind=c.kind,
                    sku=c.sku,
                    balance=c.balance,
                    channel_id=c.channel_id,
                    sale_price=c.sale_price,
                    activated_at=c.activated_at,
                )
            )
        for leaf, (number, type_, at, store, amount) in enumerate(EVENTS):
            conn.execute(
                sa.insert(events).values(
                    leaf_index=leaf,
                    card_number=f"{number:0>17}",
                    seq=leaf + 1,
                    type=type_,
                    occurred_at=at,
                    recorded_at=at,
                    store_id=store,
                    actor_role="hq",
                    actor_id="tok_books",
                    amount=amount,
                )
            )
    return engine


def test_sql_liability_and_breakage_equal_the_hand_figures(example):
    with read_transaction(example) as conn:
        assert books_sql.liability(conn, AS_OF) == LIABILITY
        assert books_sql.breakage(conn, AS_OF) == BREAKAGE


def test_sql_daily_close_equals_the_hand_figures(example):
    with read_transaction(example) as conn:
        rows = books_sql.daily_close(conn, AS_OF, 2, BEIJING)
        s2_only = books_sql.daily_close(conn, AS_OF, 2, BEIJING, store_id="S2")
    assert rows == CLOSE
    assert s2_only == [r for r in CLOSE if r.store_id == "S2"]


def test_sql_figures_by_product_and_channel_equal_the_hand_figures(example):
    with read_transaction(example) as conn:
        assert books_sql.figures(conn, AS_OF, by="product") == BY_PRODUCT
        assert books_sql.figures(conn, AS_OF, by="channel") == BY_CHANNEL
        # Redemptions since 1 December leave out E's November spending.
        since = books_sql.figures(conn, AS_OF, by="product", since=bj(1, 0))
    assert next(f for f in since if f.key == "SV500").redeemed_value == 12000 + 8000 - 3000


def test_sql_reminders_list_sold_unused_cards_expiring_soon(example):
    with write_transaction(example) as conn:
        conn.execute(
            sa.update(cards)
            .where(cards.c.number.in_([f"{n:0>17}" for n in "ABF"]))
            .values(expires_at=AS_OF + timedelta(days=3))
        )
    with read_transaction(example) as conn:
        total, soon = books_sql.expiring_within(conn, AS_OF, 7)
        none = books_sql.expiring_within(conn, AS_OF, 2)
    assert total == 3
    assert [(r.card_number[-1], r.value_left) for r in soon] == [
        ("A", 33000),
        ("B", 29900),
        ("F", 2 * 3333),
    ]
    assert none == (0, [])
