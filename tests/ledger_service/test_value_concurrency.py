"""Money under racing requests (SQLite and PostgreSQL): a balance never goes below zero
and a channel never sells more than it was allocated.

Each test releases 100 threads at once; every thread makes its own call with its own
connection from the engine, as in test_concurrency.py.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from anchoring.db import create_engine, read_transaction
from ledger_service import db, errors
from ledger_service.actor import Actor
from ledger_service.schema import cards, channel_allocations, events
from ledger_service.service import Ledger

RACERS = 100
HQ = Actor("hq", "tok_hq")
STORE1 = Actor("store", "tok_s1", store_id="S1")


@pytest.fixture
def racing_ledger(db_url):
    """A Ledger whose engine lets many threads connect at once, with a store and a
    stored-value product of 100.00 CNY."""
    if db_url.startswith("sqlite"):
        engine = create_engine(db_url, poolclass=NullPool)
    else:
        # The shared server allows 100 connections in all: 20 is plenty to race.
        engine = create_engine(db_url, pool_size=20, max_overflow=0, pool_timeout=120)
    db.upgrade(engine)
    ledger = Ledger(engine, secrets.token_bytes(32))
    ledger.create_store(HQ, "S1", "Flagship", "north")
    ledger.create_product(
        HQ, "SV100", "储值卡", "Card", "stored_value", face_value=10_000, currency="CNY"
    )
    yield ledger
    engine.dispose()


def race(calls: list[Callable[[], object]]) -> Counter:
    """Run each call in its own thread, all released together; count outcomes by code."""
    start = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call: Callable[[], object]) -> None:
        start.wait()
        try:
            call()
            outcome = "OK"
        except errors.LedgerError as exc:
            outcome = exc.code
        except Exception as exc:  # noqa: BLE001 — anything else is a bug the test must show
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(outcomes)


@pytest.mark.parametrize("amount", [300, 1_000])
def test_concurrent_partial_redemptions_succeed_floor_balance_over_amount_times(
    racing_ledger, amount
):
    ledger = racing_ledger
    [card] = ledger.issue_cards(HQ, "B1", [{"sku": "SV100"}], active=True)["cards"]
    number, code = card["card_number"], card["redemption_code"]
    outcomes = race(
        [lambda: ledger.redeem(STORE1, number, code, amount=amount) for _ in range(RACERS)]
    )
    wins = 10_000 // amount
    assert outcomes == Counter({"OK": wins, "INSUFFICIENT_BALANCE": RACERS - wins})
    with read_transaction(ledger._engine) as conn:
        [balance] = conn.execute(sa.select(cards.c.balance).where(cards.c.number == number))
        logged = conn.execute(
            sa.select(events.c.amount, events.c.balance)
            .where(events.c.card_number == number, events.c.type == "REDEEMED")
            .order_by(events.c.seq)
        ).all()
    assert balance[0] == 10_000 - wins * amount
    assert [tuple(row) for row in logged] == [
        (-amount, 10_000 - (i + 1) * amount) for i in range(wins)
    ]


def test_concurrent_channel_sales_never_pass_the_allocation(racing_ledger):
    ledger = racing_ledger
    issued = ledger.issue_cards(HQ, "B1", [{"sku": "SV100"}] * RACERS)["cards"]
    ledger.create_channel(HQ, "JD", "京东旗舰店", "online")
    ledger.allocate(HQ, "JD", "SV100", 30, 9_500)
    outcomes = race(
        [
            lambda number=card["card_number"]: ledger.activate(HQ, number, channel_id="JD")
            for card in issued
        ]
    )
    assert outcomes == Counter({"OK": 30, "ALLOCATION_EXHAUSTED": RACERS - 30})
    with read_transaction(ledger._engine) as conn:
        allocation = conn.execute(sa.select(channel_allocations)).one()
        sold = conn.execute(
            sa.select(sa.func.count()).select_from(cards).where(cards.c.channel_id == "JD")
        ).scalar_one()
    assert (allocation.allocated, allocation.sold, sold) == (30, 30, 30)
