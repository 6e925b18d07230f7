"""What refusals leave behind: wrong-code counts and locks, anomalies, redemption bursts."""

from __future__ import annotations

import pytest
from ledger_helpers import (
    HQ,
    STORE1,
    STORE3,
    anomaly_kinds,
    assert_refused_without_writing,
    issue,
    rows,
)

from ledger_service import errors
from ledger_service.schema import anomalies, code_failures
from ledger_service.service import REDEMPTION_BURST


def test_an_unknown_number_is_not_found_and_flagged(ledger):
    from ledger_service.domain.numbers import generate_card_number

    assert_refused_without_writing(
        ledger, errors.CardNotFound, ledger.redeem, HQ, generate_card_number(), "X"
    )
    assert anomaly_kinds(ledger) == ["unknown_card"]


def test_five_wrong_codes_lock_the_code_for_fifteen_minutes_then_thirty(ledger, stores, clock):
    number, code = issue(ledger)
    for attempt in range(1, 5):
        error = assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
        assert error.extra["attempts_left"] == 5 - attempt
    error = assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
    )
    assert "15 minutes" in error.detail and error.extra["retry_after"] == 900
    locked = assert_refused_without_writing(
        ledger, errors.CodeLocked, ledger.redeem, STORE1, number, code
    )
    assert locked.extra["retry_after"] == 900
    clock.advance(minutes=15)
    for _ in range(5):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
    clock.advance(minutes=29)
    assert_refused_without_writing(ledger, errors.CodeLocked, ledger.redeem, STORE1, number, code)
    clock.advance(minutes=1)
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"
    outcomes = [
        r.outcome for r in rows(ledger, code_failures, code_failures.c.card_number == number)
    ]
    assert outcomes.count("wrong") == 10 and outcomes.count("locked") == 2
    assert anomaly_kinds(ledger).count("code_locked") == 2


def test_a_right_code_ends_the_run_of_wrong_ones(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "giver")
    for _ in range(4):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.transfer, HQ, number, "WRONG", "x"
        )
    code = ledger.transfer(HQ, number, code, "receiver")["redemption_code"]
    for _ in range(4):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_errors_never_carry_the_code(ledger, stores):
    number, code = issue(ledger)
    for attempt in ("WRONG", code):
        with pytest.raises(errors.LedgerError) as caught:
            ledger.redeem(STORE3, number, attempt, store_id="S1")
        assert code not in str(caught.value) and code not in repr(caught.value.extra)


def test_a_burst_of_redemptions_at_one_store_is_flagged_once(ledger, stores, clock):
    batch = ledger.issue_cards(
        HQ, "B1", [{"product": "Tea"}] * (REDEMPTION_BURST + 2), active=True
    )["cards"]
    for card in batch[: REDEMPTION_BURST - 1]:
        ledger.redeem(STORE1, card["card_number"], card["redemption_code"])
    assert "redemption_burst" not in anomaly_kinds(ledger)
    for card in batch[REDEMPTION_BURST - 1 :]:
        ledger.redeem(STORE1, card["card_number"], card["redemption_code"])
    bursts = ledger.anomalies(HQ, kind="redemption_burst")
    assert [(b["store_id"], b["card_number"]) for b in bursts] == [("S1", None)]


def test_refusals_write_no_anomaly_for_plain_mistakes(ledger):
    number, _ = issue(ledger)
    with pytest.raises(errors.InvalidTransition):
        ledger.unblock(HQ, number)
    assert rows(ledger, anomalies) == []
