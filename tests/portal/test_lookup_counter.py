"""The lookup counter's batching: looks kept by the process, written together within
``PUBLIC_LOOKUP_COUNT_SECONDS`` or before this process reads a count (SQLite and
PostgreSQL)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from anchoring.db import read_transaction
from ledger_service.schema import card_check_clients, card_checks
from portal.lookup_counter import Looks, app_counter, write_looks


def stored(engine, number: str) -> tuple[int, int]:
    """The stored count of looks at ``number`` and of its client tags."""
    with read_transaction(engine) as conn:
        count = conn.execute(
            sa.select(card_checks.c.count).where(card_checks.c.card_number == number)
        ).scalar()
        clients = conn.execute(
            sa.select(sa.func.count()).where(card_check_clients.c.card_number == number)
        ).scalar_one()
    return count or 0, clients


def look(client, number: str, address: str):
    response = client.get(f"/c/{number}", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200


def test_looks_wait_in_the_process_and_its_own_count_shows_them(app, client, cards):
    app.config["PUBLIC_LOOKUP_COUNT_SECONDS"] = 60
    number, _ = cards.issue()
    engine = app.extensions["cardtrail"].engine
    for address in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):
        look(client, number, address)
    assert stored(engine, number) == (0, 0), "nothing is written per look"
    shown = client.get(f"/api/v1/public/cards/{number}/checks").get_json()
    assert shown["count"] == 3 and shown["clients_today"] == 2
    assert stored(engine, number) == (3, 2)
    look(client, number, "192.0.2.3")
    app_counter(app).flush()
    assert stored(engine, number) == (4, 3), "a second batch adds to the first"


def test_looks_are_written_by_the_timer_without_any_read(app, client, cards):
    app.config["PUBLIC_LOOKUP_COUNT_SECONDS"] = 0.05
    number, _ = cards.issue()
    engine = app.extensions["cardtrail"].engine
    look(client, number, "192.0.2.1")
    look(client, number, "192.0.2.2")
    deadline = time.monotonic() + 10
    while stored(engine, number) != (2, 2):
        assert time.monotonic() < deadline, f"still {stored(engine, number)}"
        time.sleep(0.02)


def test_a_testing_app_writes_each_look_at_once(app, client, cards):
    number, _ = cards.issue()
    look(client, number, "192.0.2.1")
    assert app_counter(app).seconds == 0
    assert stored(app.extensions["cardtrail"].engine, number) == (1, 1)


def test_a_batch_keeps_the_first_look_and_only_todays_clients(app, cards):
    number, _ = cards.issue()
    engine = app.extensions["cardtrail"].engine
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    write_looks(engine, {number: Looks(1, yesterday, yesterday, {"a" * 32: yesterday})})
    assert stored(engine, number) == (1, 1)
    batch = Looks(1, yesterday, yesterday, {"b" * 32: yesterday})
    batch.add("c" * 32, now)
    write_looks(engine, {number: batch})
    with read_transaction(engine) as conn:
        row = conn.execute(sa.select(card_checks)).one()
        clients = conn.execute(sa.select(card_check_clients.c.client)).scalars().all()
    assert row._mapping["count"] == 3
    assert row.first_at.replace(tzinfo=UTC) <= yesterday + timedelta(seconds=1)
    assert clients == ["c" * 32], "yesterday's tags are dropped, stored or batched"
