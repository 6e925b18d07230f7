"""Issuing cards: one ISSUED event per card, all of a batch or nothing, row keys once."""

from __future__ import annotations

import json

from ledger_helpers import HQ, assert_refused_without_writing, issue, log_size, rows

from ledger_service import errors
from ledger_service.events import GENESIS
from ledger_service.schema import cards


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
