"""The demo merchant, on SQLite and PostgreSQL: every state, real log events, seeded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import rfc8785
import sqlalchemy as sa

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service import db, demo
from ledger_service.actor import Actor
from ledger_service.auth import authenticate
from ledger_service.domain.lifecycle import CardState
from ledger_service.events import EVENT_KEYS, GENESIS, card_commitment, event_hash
from ledger_service.runtime import runtime_of
from ledger_service.schema import anomalies, cards, events
from ledger_service.service import Ledger

SECRET = bytes(range(32))
SMALL = 40


@pytest.fixture
def migrated(engine):
    db.upgrade(engine)
    return engine


def seed_small(engine, **kw) -> demo.DemoSummary:
    clock = demo.DemoClock()
    return demo.seed(Ledger(engine, SECRET, clock=clock), engine, cards=SMALL, clock=clock, **kw)


def demo_numbers(engine) -> list[str]:
    with read_transaction(engine) as conn:
        query = sa.select(cards.c.number).where(cards.c.batch_ref.like("DEMO-%"))
        return list(conn.execute(query).scalars())


def log_size(engine) -> int:
    with read_transaction(engine) as conn:
        return MerkleLog(conn).size()


def test_seed_produces_every_state(migrated):
    summary = seed_small(migrated)
    assert summary.seeded
    assert set(summary.states) == {state.value for state in CardState}
    assert summary.card_count == SMALL == len(demo_numbers(migrated))
    assert [card.state for card in summary.examples] == [state.value for state in CardState]
    assert len(summary.stores) >= 3 and len({s[2] for s in summary.stores}) == len(summary.stores)


def test_seed_twice_seeds_once(migrated):
    assert not demo.present(migrated)
    first = seed_small(migrated)
    assert demo.present(migrated)
    size = log_size(migrated)
    again = demo.seed(Ledger(migrated, SECRET), migrated, cards=SMALL)
    assert not again.seeded
    assert log_size(migrated) == size
    assert again.states == first.states
    assert again.try_me is None


def test_every_demo_event_is_a_valid_log_event(migrated):
    seed_small(migrated)
    ledger = Ledger(migrated, SECRET)
    with read_transaction(migrated) as conn:
        assert MerkleLog(conn).audit() is None
        event_rows = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    assert event_rows == log_size(migrated)
    for number in demo_numbers(migrated):
        history = ledger.card_history(number)
        prev = GENESIS
        for seq, item in enumerate(history.events):
            event = item.event
            assert set(event) == EVENT_KEYS
            assert event["seq"] == seq and event["leaf_index"] == item.leaf_index
            assert event["card"] == card_commitment(history.card_salt, number)
            assert event["prev_event_hash"] == prev
            assert rfc8785.dumps(event) == item.leaf_input
            prev = event_hash(item.leaf_input)
        assert history.events[0].event["type"] == "ISSUED"


def test_demo_story_spreads_over_past_days_in_log_order(migrated):
    seed_small(migrated)
    with read_transaction(migrated) as conn:
        rows = conn.execute(
            sa.select(events.c.leaf_index, events.c.recorded_at, events.c.occurred_at).order_by(
                events.c.leaf_index
            )
        ).all()
    recorded = [row.recorded_at for row in rows]
    assert recorded == sorted(recorded)
    days = {row.occurred_at.date() for row in rows}
    assert len(days) >= 5
    now = datetime.now(UTC).replace(tzinfo=None)
    assert min(r.replace(tzinfo=None) for r in recorded) < now - timedelta(days=5)
    assert max(r.replace(tzinfo=None) for r in recorded) <= now


def test_demo_on_a_database_with_cards_does_not_backdate(migrated):
    ledger = Ledger(migrated, SECRET)
    ledger.create_store(Actor("hq", "tok_x"), "X1", "Existing store", "east")
    ledger.issue_cards(Actor("hq", "tok_x"), "REAL", [{"product": "Real card"}], active=True)
    before = datetime.now(UTC).replace(tzinfo=None)
    seed_small(migrated)
    with read_transaction(migrated) as conn:
        oldest = conn.execute(
            sa.select(sa.func.min(events.c.recorded_at)).where(events.c.leaf_index > 0)
        ).scalar_one()
    assert oldest.replace(tzinfo=None) >= before - timedelta(seconds=1)


def test_demo_leaves_anomalies_for_the_console(migrated):
    seed_small(migrated)
    with read_transaction(migrated) as conn:
        kinds = set(conn.execute(sa.select(anomalies.c.kind).distinct()).scalars())
    assert {"used_card_attempt", "code_locked"} <= kinds


def test_try_me_card_redeems_at_the_try_store(migrated):
    summary = seed_small(migrated)
    card = summary.try_me
    assert card is not None and card.state == "ISSUED"
    store = Actor("store", "tok_try", store_id=summary.try_store)
    assert (
        Ledger(migrated, SECRET).redeem(store, card.card_number, card.redemption_code)["state"]
        == "REDEEMED"
    )


def test_the_pickup_to_try_completes_at_the_try_store_with_the_customers_rotating_code(
    migrated,
):
    summary = seed_small(migrated)
    assert summary.try_pickup is not None
    path, key = summary.try_pickup.split("#")
    pickup_id = path.rsplit("/", 1)[1]
    ledger = Ledger(migrated, SECRET)
    shown = ledger.pickup_progress(pickup_id, key)
    assert shown["state"] == "PICKUP_READY"
    store = Actor("store", "tok_try_pickup", store_id=summary.try_store)
    done = ledger.pickup_complete(
        store,
        pickup_id,
        credential="rotating_code",
        code=shown["rotating_code"],
        serials=["LQ2026-000001"],
    )
    assert done["state"] == "PICKUP_COMPLETED"


def test_too_few_cards_for_every_state_is_refused(migrated):
    with pytest.raises(ValueError, match="at least"):
        demo.seed(Ledger(migrated, SECRET), migrated, cards=5)


def test_announce_prints_card_urls_and_working_tokens(app):
    summary = demo.seed_runtime(runtime_of(app), cards=SMALL)
    text = demo.announce(runtime_of(app), summary, "http://127.0.0.1:8000/")
    for card in summary.examples:
        assert f"http://127.0.0.1:8000/c/{card.card_number}" in text
    rt = app.extensions["cardtrail"]
    tokens = [word for word in text.split() if word.startswith("ct_")]
    actors = [authenticate(rt.engine, rt.secret_key, f"Bearer {token}") for token in tokens]
    assert [(a.role, a.store_id) for a in actors] == [("hq", None), ("store", summary.try_store)]
    assert summary.try_me.redemption_code in text
    assert summary.try_me.redemption_code not in repr(summary)


def test_seed_holds_value_cards_spent_in_part_and_stock_waiting_for_a_sale(migrated):
    seed_small(migrated)
    with read_transaction(migrated) as conn:
        value = conn.execute(
            sa.select(cards.c.kind, cards.c.state, cards.c.balance, cards.c.channel_id).where(
                cards.c.batch_ref.like(f"{demo.VALUE_BATCH}%")
            )
        ).all()
    spent = [c.balance for c in value if c.kind == "stored_value" and c.channel_id is None]
    assert any(balance is not None and balance < 50_000 for balance in spent)
    assert [c.balance for c in value if c.kind == "count"] == [4, 4]
    assert sum(c.channel_id == "TMALL" for c in value) == 2
    assert sum(c.state == "INACTIVE" for c in value) == 6
