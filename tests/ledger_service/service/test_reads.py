"""Reading cards: the per-card hash chain of exact leaf inputs, the merchant's view, roles."""

from __future__ import annotations

import hashlib

import rfc8785
from ledger_helpers import AUDITOR, HQ, STORE1, issue, rows

from anchoring import merkle
from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service.domain.numbers import format_card_number
from ledger_service.events import GENESIS
from ledger_service.schema import events


def test_a_cards_events_form_a_hash_chain_of_exact_leaf_inputs(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust-1")
    code = ledger.transfer(HQ, number, code, "cust-2")["redemption_code"]
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S1")
    ledger.pickup_ready(STORE1, pickup["pickup_id"])
    done = ledger.pickup_complete(STORE1, pickup["pickup_id"], credential="card_code", code=code)
    assert done["state"] == "PICKUP_COMPLETED"

    history = ledger.card_history(format_card_number(number).lower())
    assert history.state == "PICKUP_COMPLETED"
    types = [h.event["type"] for h in history.events]
    assert types == [
        "ISSUED",
        "CLAIMED",
        "TRANSFERRED",
        "PICKUP_REQUESTED",
        "PICKUP_READY",
        "PICKUP_COMPLETED",
    ]
    commitment = hashlib.sha256(history.card_salt + number.encode()).hexdigest()
    previous = GENESIS
    with read_transaction(ledger._engine) as conn:
        log = MerkleLog(conn)
        root = log.root()
        size = log.size()
        for seq, item in enumerate(history.events):
            assert item.event["seq"] == seq
            assert item.event["card"] == commitment
            assert item.event["leaf_index"] == item.leaf_index
            assert item.event["prev_event_hash"] == previous
            assert item.leaf_input == log.leaf_input(item.leaf_index)
            assert rfc8785.dumps(item.event) == item.leaf_input
            log.inclusion_proof(item.leaf_index, size).verify(root)
            assert log.inclusion_proof(item.leaf_index, size).leaf_hash == merkle.hash_leaf(
                item.leaf_input
            )
            previous = hashlib.sha256(item.leaf_input).hexdigest()
    assert [r.seq for r in rows(ledger, events, events.c.card_number == number)] == list(range(6))


def test_the_log_never_holds_the_card_number_or_the_holder(ledger):
    number, code = issue(ledger, holder_ref="alice@example.com")
    ledger.claim(HQ, number, "alice@example.com")
    for item in ledger.card_history(number).events:
        assert number.encode() not in item.leaf_input
        assert b"alice" not in item.leaf_input
        assert code.encode() not in item.leaf_input


def test_get_card_shows_fields_state_pickups_and_events(ledger, stores):
    number, code = issue(ledger, face_value=5000, currency="CNY", allowed_stores=["S1"])
    ledger.claim(HQ, number, "cust-1")
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S1")
    view = ledger.get_card(AUDITOR, number)
    assert (view["state"], view["face_value"], view["allowed_stores"]) == (
        "PICKUP_REQUESTED",
        5000,
        ["S1"],
    )
    assert view["holder_ref"] == "cust-1"
    assert [p["pickup_id"] for p in view["pickups"]] == [pickup["pickup_id"]]
    assert [e["type"] for e in view["events"]] == ["ISSUED", "CLAIMED", "PICKUP_REQUESTED"]
    assert view["events"][2]["store_id"] == "S1"


def test_auditors_and_stores_can_read(ledger, stores):
    number, _ = issue(ledger)
    assert ledger.get_card(AUDITOR, number)["state"] == "ISSUED"
    assert ledger.get_card(STORE1, number)["state"] == "ISSUED"
    assert [s["id"] for s in ledger.list_stores(STORE1)] == ["S1", "S2", "S3"]
