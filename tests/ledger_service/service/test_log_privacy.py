"""What the permanent public log no longer says: which cards share a holder, and the free
text of block, unblock and void reasons (kept in the database, committed to by a hash)."""

from __future__ import annotations

import typing

import pytest
from ledger_helpers import HQ, issue

from ledger_service import errors, schemas
from ledger_service.events import REASON_CODES, reason_hash
from ledger_service.service.reasons import reason_of


def _events(ledger, number: str, kind: str) -> list[dict]:
    return [h.event for h in ledger.card_history(number).events if h.event["type"] == kind]


def _history(ledger, number: str, kind: str):
    return [h for h in ledger.card_history(number).events if h.event["type"] == kind]


def test_two_cards_of_one_holder_get_unlinkable_holder_tags(ledger):
    first, _ = issue(ledger)
    second, _ = issue(ledger)
    ledger.claim(HQ, first, "alice@example.com")
    ledger.claim(HQ, second, "alice@example.com")
    tags = [_events(ledger, n, "CLAIMED")[0]["data"]["holder"] for n in (first, second)]
    assert len(tags[0]) == 32 and tags[0] != tags[1]


def test_holder_tags_at_issue_and_transfer_are_salted_per_card_too(ledger):
    first, _ = issue(ledger, holder_ref="bob")
    second, code = issue(ledger, holder_ref="bob")
    issued = [_events(ledger, n, "ISSUED")[0]["data"]["holder"] for n in (first, second)]
    assert issued[0] != issued[1]
    third, old = issue(ledger)
    ledger.claim(HQ, third, "carol")
    ledger.transfer(HQ, third, old, "bob")
    transferred = _events(ledger, third, "TRANSFERRED")[0]["data"]["holder"]
    assert transferred not in issued


def test_one_card_keeps_one_tag_for_one_holder(ledger):
    # Within a card the log still shows whether the holder changed.
    number, code = issue(ledger, holder_ref="dave")
    issued_tag = _events(ledger, number, "ISSUED")[0]["data"]["holder"]
    ledger.claim(HQ, number, "dave")
    assert _events(ledger, number, "CLAIMED")[0]["data"]["holder"] == issued_tag


@pytest.mark.parametrize("command", ["block", "void"])
def test_reason_text_stays_out_of_the_log_and_in_the_database(ledger, command):
    number, _ = issue(ledger)
    text = "客户报失 — reported stolen at Nanjing Road"
    result = getattr(ledger, command)(HQ, number, text, reason_code="stolen")
    [item] = _history(ledger, number, "BLOCKED" if command == "block" else "VOIDED")
    assert text.encode() not in item.leaf_input and b"Nanjing" not in item.leaf_input
    assert set(item.event["data"]) == {"reason_code", "reason_hash"}
    assert item.event["data"]["reason_code"] == "stolen"
    with ledger._engine.connect() as conn:
        stored = reason_of(conn, result["leaf_index"])
    assert stored is not None and stored.text == text and stored.code == "stolen"
    # Whoever is shown the text and its salt can check it against the log.
    assert item.event["data"]["reason_hash"] == reason_hash(stored.salt, text)


def test_the_same_reason_text_hashes_differently_on_each_event(ledger):
    first, _ = issue(ledger)
    second, _ = issue(ledger)
    for number in (first, second):
        ledger.block(HQ, number, "lost")
    hashes = {_events(ledger, n, "BLOCKED")[0]["data"]["reason_hash"] for n in (first, second)}
    assert len(hashes) == 2


def test_no_reason_text_logs_no_hash_and_stores_nothing(ledger):
    number, _ = issue(ledger)
    ledger.block(HQ, number)
    result = ledger.unblock(HQ, number, reason_code="issuer_error")
    [item] = _history(ledger, number, "UNBLOCKED")
    assert item.event["data"] == {"reason_code": "issuer_error", "reason_hash": None}
    with ledger._engine.connect() as conn:
        assert reason_of(conn, result["leaf_index"]) is None


def test_an_unknown_reason_code_is_refused(ledger):
    number, _ = issue(ledger)
    with pytest.raises(errors.ValidationFailed, match="reason_code must be one of"):
        ledger.block(HQ, number, "x", reason_code="because")


def test_the_api_reason_codes_are_the_ledgers():
    assert typing.get_args(schemas.ReasonCode) == REASON_CODES
