"""The single-card commands: redeem, claim, block, unblock, void, transfer, code unlock."""

from __future__ import annotations

import sqlalchemy as sa
from ledger_helpers import (
    AUDITOR,
    HQ,
    STORE1,
    STORE3,
    anomaly_kinds,
    assert_refused_without_writing,
    issue,
    rows,
)

from ledger_service import errors
from ledger_service.schema import events


def test_redeem_twice_is_rejected_and_logged_once(ledger, stores):
    number, code = issue(ledger)
    result = ledger.redeem(STORE1, number, code)
    assert result == {
        "card_number": number,
        "state": "REDEEMED",
        "leaf_index": result["leaf_index"],
    }
    assert_refused_without_writing(
        ledger, errors.CardAlreadyUsed, ledger.redeem, STORE1, number, code
    )
    assert [r.type for r in rows(ledger, events, events.c.card_number == number)] == [
        "ISSUED",
        "REDEEMED",
    ]
    assert "used_card_attempt" in anomaly_kinds(ledger)


def test_claim_twice_is_an_invalid_transition(ledger):
    number, _ = issue(ledger)
    ledger.claim(HQ, number, "cust-1")
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.claim, HQ, number, "cust-2"
    )


def test_block_holds_the_card_and_unblock_returns_it(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust-1")
    assert ledger.block(HQ, number, "reported stolen")["state"] == "BLOCKED"
    assert_refused_without_writing(ledger, errors.CardBlocked, ledger.redeem, STORE1, number, code)
    assert ledger.unblock(HQ, number)["state"] == "CLAIMED"
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"
    blocked = [h.event for h in ledger.card_history(number).events if h.event["type"] == "BLOCKED"]
    assert blocked[0]["data"]["reason_code"] == "unspecified"


def test_a_voided_card_refuses_everything(ledger, stores):
    number, code = issue(ledger)
    ledger.void(HQ, number, "refunded")
    assert_refused_without_writing(ledger, errors.CardVoided, ledger.redeem, STORE1, number, code)
    assert_refused_without_writing(ledger, errors.CardVoided, ledger.block, HQ, number)
    assert "voided_card_attempt" in anomaly_kinds(ledger)


def test_transfer_retires_the_old_code(ledger, stores):
    number, old = issue(ledger)
    ledger.claim(HQ, number, "giver")
    new = ledger.transfer(HQ, number, old, "receiver")["redemption_code"]
    assert new != old
    assert_refused_without_writing(ledger, errors.InvalidCode, ledger.redeem, STORE1, number, old)
    assert ledger.redeem(STORE1, number, new)["state"] == "REDEEMED"
    assert ledger.get_card(HQ, number)["holder_ref"] == "receiver"


def test_transfer_needs_the_current_code(ledger):
    number, _ = issue(ledger)
    ledger.claim(HQ, number, "giver")
    assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.transfer, HQ, number, "AAAA-AAAA-AAAA", "x"
    )


def test_codes_are_read_forgivingly(ledger, stores):
    number, code = issue(ledger)
    sloppy = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert ledger.redeem(STORE1, number, sloppy)["state"] == "REDEEMED"


def test_redeem_at_other_store_is_forbidden(ledger, stores):
    number, code = issue(ledger, allowed_stores=["S1"])
    error = assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, STORE3, number, code
    )
    assert error.status == 403
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, STORE1, number, code, store_id="S3"
    )
    [anomaly] = ledger.anomalies(AUDITOR, kind="other_store_attempt")[:1]
    assert (anomaly["card_number"], anomaly["store_id"]) == (number, "S3")
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_a_region_card_is_redeemable_in_every_store_of_the_region(ledger, stores):
    number, code = issue(ledger, allowed_regions=["south"])
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, STORE1, number, code
    )
    assert ledger.redeem(STORE3, number, code)["state"] == "REDEEMED"


def test_headquarters_redeems_at_a_named_store_or_none(ledger, stores):
    number, code = issue(ledger, allowed_stores=["S1"])
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, HQ, number, code, store_id="S3"
    )
    assert_refused_without_writing(
        ledger, errors.StoreNotFound, ledger.redeem, HQ, number, code, store_id="S9"
    )
    assert ledger.redeem(HQ, number, code)["state"] == "REDEEMED"
    assert rows(ledger, events, events.c.type == "REDEEMED")[0].store_id is None


def test_headquarters_can_unlock_a_locked_code(ledger, stores):
    number, code = issue(ledger)
    for _ in range(5):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
    assert ledger.get_card(HQ, number)["code_locked_until"] is not None
    assert_refused_without_writing(ledger, errors.CodeLocked, ledger.redeem, STORE1, number, code)
    ledger.unlock_code(HQ, number)
    assert ledger.get_card(HQ, number)["code_locked_until"] is None
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_a_redeem_at_a_store_reads_card_store_and_burst_count_in_one_statement(ledger, stores):
    number, code = issue(ledger)
    selects: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    sa.event.listen(ledger._engine, "before_cursor_execute", seen)
    try:
        ledger.redeem(STORE1, number, code)
    finally:
        sa.event.remove(ledger._engine, "before_cursor_execute", seen)
    card_reads = [s for s in selects if "FROM cards" in s]
    assert len(card_reads) == 1
    assert "stores" in card_reads[0] and "count" in card_reads[0].lower()
    assert not any("FROM stores" in s and "cards" not in s for s in selects)
