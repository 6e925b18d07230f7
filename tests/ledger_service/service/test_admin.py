"""Administrative actions leave an attributable record (who, when, what), in the same
transaction as the action; a refused action leaves neither."""

from __future__ import annotations

import pytest
from ledger_helpers import AUDITOR, HQ, STORE1, assert_refused_without_writing, issue

from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.schema import admin_actions

OTHER_HQ = Actor("hq", "tok_hq_other")


def test_each_action_is_recorded_with_its_token_time_and_event(ledger, stores, clock):
    number, code = issue(ledger)
    blocked = ledger.administer(HQ, "block", number, reason="reported stolen", reason_code="stolen")
    clock.advance(minutes=5)
    unblocked = ledger.administer(OTHER_HQ, "unblock", number, reason="found")
    record = ledger.admin_record(AUDITOR, number=number)
    assert [(r["action"], r["actor"]["id"], r["leaf_index"]) for r in record] == [
        ("unblock", "tok_hq_other", unblocked["leaf_index"]),
        ("block", "tok_hq", blocked["leaf_index"]),
    ]
    assert record[0]["at"] > record[1]["at"]
    # The code, never the free text: that stays beside the event (event_reasons).
    assert [r["detail"] for r in record] == ["", "reason_code=stolen"]


def test_unlocking_a_code_writes_no_event_but_is_recorded(ledger, stores):
    number, code = issue(ledger)
    for _ in range(5):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
    done = ledger.administer(HQ, "unlock_code", number)
    assert done["code_locked_until"] is None
    [entry] = ledger.admin_record(HQ)
    assert (entry["action"], entry["actor"], entry["card_number"], entry["leaf_index"]) == (
        "unlock_code",
        {"role": "hq", "id": "tok_hq"},
        number,
        None,
    )
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_a_refused_action_leaves_no_record(ledger, stores):
    number, code = issue(ledger)
    ledger.redeem(STORE1, number, code)
    with pytest.raises(errors.LedgerError):
        ledger.administer(HQ, "void", number)
    with pytest.raises(errors.Forbidden):
        ledger.administer(AUDITOR, "block", number)
    with pytest.raises(errors.ValidationFailed):
        ledger.administer(HQ, "delete", number)
    assert ledger.admin_record(HQ) == []
    with ledger._engine.connect() as conn:
        assert conn.execute(admin_actions.select()).all() == []
