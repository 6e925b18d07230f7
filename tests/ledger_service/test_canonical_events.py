"""Every leaf the service writes is the canonical encoder's output and rfc8785's.

Generic over the log: the demo seed runs through the real Ledger (every kind of event it
tells its story with, batches and single commands, the card map leaves of the worker),
and each stored leaf is decoded and encoded again by both encoders. New event types and
data fields are covered as soon as the demo or the service writes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785

from anchoring import canonical
from anchoring.cardmap_store import append_card_map
from anchoring.db import read_transaction, write_transaction
from anchoring.log import MerkleLog
from ledger_service import db, demo
from ledger_service.actor import Actor
from ledger_service.domain.lifecycle import EventType
from ledger_service.service import Ledger

HQ = Actor("hq", "tok_hq_canon")

SECRET = b"c" * 32


@pytest.fixture
def seeded(engine):
    db.upgrade(engine)
    clock = demo.DemoClock()
    ledger = Ledger(engine, SECRET, clock=clock)
    demo.seed(ledger, engine, cards=60, clock=clock)
    # What the demo's story leaves out, told here: a card blocked with a non-ASCII reason
    # and unblocked again, in a batch of non-ASCII products.
    issued = ledger.issue_cards(HQ, "canon-1", [{"product": "茅台 飞天 500ml"}] * 3)
    number = issued["cards"][0]["card_number"]
    ledger.block(HQ, number, "挂失 — lost", reason_code="lost")
    ledger.unblock(HQ, number, "找到了", reason_code="customer_request")
    # Value moved by headquarters and between two stored-value cards.
    ledger.create_product(
        HQ,
        "CANON-SV",
        "储值卡 200",
        "Stored value 200",
        "stored_value",
        face_value=20_000,
        currency="CNY",
    )
    pair = ledger.issue_cards(HQ, "canon-2", [{"sku": "CANON-SV"}] * 2, active=True)["cards"]
    ledger.adjust(HQ, pair[0]["card_number"], -500, "补差 — difference", reason_code="issuer_error")
    ledger.transfer_balance(
        HQ, pair[0]["card_number"], pair[0]["redemption_code"], pair[1]["card_number"], 1_000
    )
    spent = ledger.redeem(HQ, pair[1]["card_number"], pair[1]["redemption_code"], amount=300)
    ledger.refund(HQ, pair[1]["card_number"], spent["leaf_index"], 100)
    # A pickup moved and then cancelled; gifts accepted, withdrawn and left to return.
    first, second, third, fourth = ledger.issue_cards(
        HQ, "canon-3", [{"product": "茶 250g"}] * 4, active=True
    )["cards"]
    stores = [s["id"] for s in ledger.list_stores(HQ)][:2]
    moved = ledger.request_pickup(
        HQ, first["card_number"], "store", first["redemption_code"], stores[0]
    )
    ledger.move_pickup(HQ, moved["pickup_id"], stores[1])
    ledger.cancel_pickup(HQ, moved["pickup_id"])
    offer = ledger.offer_gift(HQ, second["card_number"], second["redemption_code"])
    ledger.accept_gift(HQ, offer["offer_id"], offer["token"], "朋友 — friend")
    ledger.offer_gift(HQ, fourth["card_number"], fourth["redemption_code"])
    ledger.withdraw_gift(HQ, fourth["card_number"], fourth["redemption_code"])
    ledger.offer_gift(HQ, third["card_number"], third["redemption_code"])
    clock.at = datetime.now(UTC) + timedelta(days=3)
    ledger.return_due_gifts(HQ)
    with write_transaction(engine) as conn:
        append_card_map(conn, datetime(2026, 11, 24, 7, tzinfo=UTC))
    with read_transaction(engine) as conn:
        return [bytes(data) for _, data, _ in MerkleLog(conn).iter_leaves()]


def test_every_logged_leaf_is_what_both_encoders_write(seeded):
    types = set()
    for data in seeded:
        event = json.loads(data)
        types.add(event["type"])
        assert canonical.dumps(event) == data
        assert rfc8785.dumps(event) == data
        assert canonical.loads(data) == event
    # Every event type the service has, as far as the story above reaches them: a new
    # type shows here until the demo or this scenario writes one.
    assert {str(kind) for kind in EventType} | {"CARD_MAP"} <= types
