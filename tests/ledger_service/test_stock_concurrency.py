"""Many pickup requests racing for the last units of a store's stock never over-reserve
(SQLite and PostgreSQL): each thread reserves on its own connection and transaction."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from test_concurrency import RACERS, race

from anchoring.db import create_engine, read_transaction, write_transaction
from ledger_service import db
from ledger_service.actor import Actor
from ledger_service.schema import products
from ledger_service.service import Ledger, stock

HQ = Actor("hq", "tok_hq")
SKU = "MT500"


@pytest.fixture
def stocked(db_url):
    """A Ledger whose engine lets many threads connect at once, store S1 and product SKU."""
    if db_url.startswith("sqlite"):
        engine = create_engine(db_url, poolclass=NullPool)
    else:
        engine = create_engine(db_url, pool_size=20, max_overflow=0, pool_timeout=120)
    db.upgrade(engine)
    ledger = Ledger(engine, secrets.token_bytes(32))
    ledger.create_store(HQ, "S1", "Flagship", "north")
    with write_transaction(engine) as conn:
        conn.execute(
            sa.insert(products),
            {
                "sku": SKU,
                "name_zh": "茅台",
                "name_en": "Moutai",
                "kind": "pickup",
                "units": 1,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )
    yield ledger
    engine.dispose()


def reserve_one(ledger: Ledger) -> None:
    with write_transaction(ledger._engine) as conn:
        stock.reserve(conn, "S1", SKU)


def counts(ledger: Ledger) -> tuple[int, int]:
    with read_transaction(ledger._engine) as conn:
        [line] = stock.stock_lines(conn, store_id="S1", sku=SKU)
    return line.on_hand, line.reserved


@pytest.mark.parametrize("on_hand", [1, 7])
def test_racing_reservations_take_exactly_what_is_on_hand(stocked, on_hand):
    stocked.set_stock(HQ, "S1", SKU, on_hand=on_hand)

    outcomes = race(lambda: reserve_one(stocked))

    assert outcomes == Counter({"OK": on_hand, "OUT_OF_STOCK": RACERS - on_hand})
    assert counts(stocked) == (on_hand, on_hand)


def test_racing_releases_and_consumes_never_go_below_zero(stocked):
    stocked.set_stock(HQ, "S1", SKU, on_hand=10)
    for _ in range(4):
        reserve_one(stocked)

    def release_or_consume() -> None:
        with write_transaction(stocked._engine) as conn:
            step = stock.consume if secrets.randbelow(2) else stock.release
            step(conn, "S1", SKU)

    outcomes = race(release_or_consume)

    assert outcomes == Counter({"OK": 4, "OUT_OF_STOCK": RACERS - 4})
    on_hand, reserved = counts(stocked)
    assert reserved == 0
    assert 6 <= on_hand <= 10
