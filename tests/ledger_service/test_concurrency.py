"""A card is used at most once, however many requests race for it (SQLite and PostgreSQL).

Each test releases 100 threads at once on one card; every thread makes its own call with
its own connection from the engine, or (group commit) its own savepoint of a shared one.
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
from anchoring.log import MerkleLog
from ledger_service import db, errors
from ledger_service.actor import Actor
from ledger_service.schema import events
from ledger_service.service import Ledger

RACERS = 100
HQ = Actor("hq", "tok_hq")
STORE1 = Actor("store", "tok_s1", store_id="S1")


@pytest.fixture(params=[0, 2], ids=["own-commits", "group-commit"])
def racing_ledger(db_url, request):
    """A Ledger whose engine lets many threads connect at once: each command committing
    alone, then with group commit (CARDTRAIL_GROUP_COMMIT_MS=2)."""
    if db_url.startswith("sqlite"):
        engine = create_engine(db_url, poolclass=NullPool)
    else:
        # The shared server allows 100 connections in all: 20 is plenty to race.
        engine = create_engine(db_url, pool_size=20, max_overflow=0, pool_timeout=120)
    db.upgrade(engine)
    ledger = Ledger(engine, secrets.token_bytes(32), group_commit_ms=request.param)
    ledger.create_store(HQ, "S1", "Flagship", "north")
    yield ledger
    engine.dispose()


def race(call: Callable[[], object]) -> Counter:
    """Run ``call`` in RACERS threads released together; count outcomes by error code."""
    start = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
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

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(outcomes)


def logged(ledger: Ledger, number: str) -> tuple[list[str], int]:
    with read_transaction(ledger._engine) as conn:
        types = conn.execute(
            sa.select(events.c.type).where(events.c.card_number == number).order_by(events.c.seq)
        ).scalars()
        return list(types), MerkleLog(conn).size()


def test_concurrent_redeems_of_one_card_succeed_exactly_once(racing_ledger):
    ledger = racing_ledger
    card = ledger.issue_cards(HQ, "B1", [{"product": "Moutai 500ml"}], active=True)["cards"][0]
    number, code = card["card_number"], card["redemption_code"]
    _, size = logged(ledger, number)

    outcomes = race(lambda: ledger.redeem(STORE1, number, code))

    assert outcomes == Counter({"OK": 1, "CARD_ALREADY_USED": RACERS - 1})
    types, after = logged(ledger, number)
    assert types == ["ISSUED", "REDEEMED"]
    assert after == size + 1
    assert len(ledger.anomalies(HQ, kind="used_card_attempt", limit=1000)) == RACERS - 1


def test_concurrent_pickup_requests_for_one_card_succeed_exactly_once(racing_ledger):
    ledger = racing_ledger
    card = ledger.issue_cards(HQ, "B1", [{"product": "Mooncakes"}], active=True)["cards"][0]
    number, code = card["card_number"], card["redemption_code"]
    ledger.claim(HQ, number, "cust")
    _, size = logged(ledger, number)

    outcomes = race(lambda: ledger.request_pickup(HQ, number, "store", code, store_id="S1"))

    assert outcomes == Counter({"OK": 1, "CARD_ALREADY_USED": RACERS - 1})
    types, after = logged(ledger, number)
    assert types == ["ISSUED", "CLAIMED", "PICKUP_REQUESTED"]
    assert after == size + 1


def test_concurrent_pickup_completions_succeed_exactly_once(racing_ledger):
    ledger = racing_ledger
    card = ledger.issue_cards(HQ, "B1", [{"product": "Mooncakes"}], active=True)["cards"][0]
    number, code = card["card_number"], card["redemption_code"]
    ledger.claim(HQ, number, "cust")
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S1")["pickup_id"]
    ledger.pickup_ready(STORE1, pickup)
    _, size = logged(ledger, number)

    outcomes = race(
        lambda: ledger.pickup_complete(STORE1, pickup, credential="card_code", code=code)
    )

    assert outcomes == Counter({"OK": 1, "CARD_ALREADY_USED": RACERS - 1})
    types, after = logged(ledger, number)
    assert types[-1] == "PICKUP_COMPLETED" and types.count("PICKUP_COMPLETED") == 1
    assert after == size + 1
