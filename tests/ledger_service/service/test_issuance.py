"""Issuing cards: one ISSUED event per card, all of a batch or nothing, row keys once."""

from __future__ import annotations

import gc
import json

import pytest
from ledger_helpers import HQ, assert_refused_without_writing, issue, log_size, rows

from anchoring import canonical
from ledger_service import errors
from ledger_service.events import GENESIS, card_commitment, event_hash
from ledger_service.schema import cards
from ledger_service.service import issuance_lookups


def test_issue_cards_logs_one_issued_event_per_card_with_consecutive_leaves(ledger, stores):
    before = log_size(ledger)
    specs = [
        {
            "product": "Moutai 500ml",
            "face_value": 150000,
            "currency": "CNY",
            "allowed_stores": ["S1"],
        },
        {"product": "Tea 250g", "allowed_regions": ["south"], "expires_at": "2027-01-31T23:59:59Z"},
        {"product": "Mooncakes", "holder_ref": "cust-77"},
    ]
    result = ledger.issue_cards(HQ, "B-2026-11", specs, active=True)
    issued = result["cards"]
    assert result["batch_ref"] == "B-2026-11"
    assert [c["leaf_index"] for c in issued] == [before, before + 1, before + 2]
    assert log_size(ledger) == before + 3
    assert len({c["card_number"] for c in issued}) == 3
    history = ledger.card_history(issued[1]["card_number"])
    event = history.events[0].event
    assert (event["type"], event["seq"], event["prev_event_hash"]) == ("ISSUED", 0, GENESIS)
    assert event["data"]["allowed_regions"] == ["south"]
    assert event["data"]["expires_at"] == "2027-01-31T23:59:59.000Z"
    assert event["actor"] == {"role": "hq", "id": "tok_hq"}


def test_issued_codes_are_stored_only_as_keyed_hashes(ledger):
    number, code = issue(ledger)
    [row] = rows(ledger, cards, cards.c.number == number)
    stored = json.dumps([str(v) for v in row._mapping.values()])
    assert code not in stored and code.replace("-", "") not in stored
    assert len(bytes(row.code_hash)) == 32


def test_issue_with_an_unknown_store_issues_nothing(ledger, stores):
    assert_refused_without_writing(
        ledger,
        errors.StoreNotFound,
        ledger.issue_cards,
        HQ,
        "B1",
        [{"product": "Tea"}, {"product": "Tea", "allowed_stores": ["S9"]}],
    )
    assert rows(ledger, cards) == []


def test_issue_lists_every_invalid_card(ledger):
    error = assert_refused_without_writing(
        ledger,
        errors.ValidationFailed,
        ledger.issue_cards,
        HQ,
        "B1",
        [
            {"product": "Tea"},
            {"product": ""},
            {"product": "Tea", "face_value": 1.5, "currency": "CNY"},
        ],
    )
    assert [e["index"] for e in error.extra["errors"]] == [1, 2]


def test_a_row_key_is_issued_once_per_batch(ledger):
    first = ledger.issue_cards(HQ, "B1", [{"product": "Tea", "row_key": "r1"}], active=True)
    size = log_size(ledger)
    again = ledger.issue_cards(
        HQ,
        "B1",
        [{"product": "Tea", "row_key": "r1"}, {"product": "Tea", "row_key": "r2"}],
        active=True,
    )
    assert [c["row_key"] for c in again["cards"]] == ["r2"]
    assert again["skipped"] == [{"row_key": "r1", "card_number": first["cards"][0]["card_number"]}]
    assert log_size(ledger) == size + 1
    other_batch = ledger.issue_cards(HQ, "B2", [{"product": "Tea", "row_key": "r1"}], active=True)
    assert len(other_batch["cards"]) == 1


def test_a_batch_of_repeated_and_distinct_cards_logs_each_card_as_its_own_event(ledger, stores):
    tea = {"product": "Tea 250g", "face_value": 5000, "currency": "CNY", "allowed_stores": ["S1"]}
    specs = [
        {**tea, "row_key": "r1"},
        {**tea, "row_key": "r2"},
        {**tea, "holder_ref": "cust-1"},
        {**tea, "holder_ref": "cust-1"},
        {"product": "Mooncakes 礼盒", "expires_at": "2027-09-30T00:00:00Z"},
        {**tea, "row_key": "r3"},
    ]
    issued = ledger.issue_cards(HQ, "B-MIX", specs, active=True)["cards"]
    assert [c.get("row_key") for c in issued] == ["r1", "r2", None, None, None, "r3"]
    holders = []
    for spec, card in zip(specs, issued, strict=True):
        [row] = rows(ledger, cards, cards.c.number == card["card_number"])
        [event] = ledger.card_history(card["card_number"]).events
        leaf = event.leaf_input
        # Each leaf is the canonical JSON of its own event, and the row chains to it.
        assert canonical.dumps(json.loads(leaf)) == leaf
        assert row.last_event_hash == event_hash(leaf)
        logged = event.event
        assert logged["leaf_index"] == card["leaf_index"]
        assert logged["card"] == card_commitment(bytes(row.salt), card["card_number"])
        assert logged["data"]["product"] == row.product == spec["product"]
        assert row.import_key == (f"B-MIX/{spec['row_key']}" if "row_key" in spec else None)
        assert row.holder_ref == spec.get("holder_ref")
        holders.append(logged["data"]["holder"])
    assert holders[0] is None and holders[4] is None
    # One holder's two cards: tags salted per card, so the log does not link them.
    assert None not in holders[2:4] and holders[2] != holders[3]
    nonces = {ledger.card_history(c["card_number"]).events[0].event["nonce"] for c in issued}
    assert len(nonces) == len(issued)


def test_a_card_equal_to_an_accepted_one_but_of_another_type_is_refused(ledger):
    error = assert_refused_without_writing(
        ledger,
        errors.ValidationFailed,
        ledger.issue_cards,
        HQ,
        "B1",
        [
            {"product": "Tea", "face_value": 1, "currency": "CNY"},
            {"product": "Tea", "face_value": True, "currency": "CNY"},
            {"product": "Tea", "face_value": 1, "currency": "CNY", "row_key": 7},
        ],
    )
    assert [e["index"] for e in error.extra["errors"]] == [1, 2]


def test_a_drawn_number_that_a_card_already_has_is_drawn_again(ledger, monkeypatch):
    taken, _ = issue(ledger)
    draws = iter([[taken, "23456789ABCDEFGH8"], ["3456789ABCDEFGHJB"]])
    monkeypatch.setattr(issuance_lookups, "generate_card_numbers", lambda count: next(draws))
    issued = ledger.issue_cards(HQ, "B2", [{"product": "Tea"}, {"product": "Tea"}])["cards"]
    assert sorted(c["card_number"] for c in issued) == ["23456789ABCDEFGH8", "3456789ABCDEFGHJB"]


def test_issuing_leaves_the_garbage_collector_as_it_found_it(ledger):
    assert gc.isenabled()
    issue(ledger)
    assert gc.isenabled()
    with pytest.raises(errors.ValidationFailed):
        ledger.issue_cards(HQ, "B1", [{"product": ""}])
    assert gc.isenabled()
    gc.disable()
    try:
        issue(ledger)
        assert not gc.isenabled()
    finally:
        gc.enable()
