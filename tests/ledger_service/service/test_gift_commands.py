"""Gifts by share link, the customer's own claim and 卡密验证."""

from __future__ import annotations

import pytest
from ledger_helpers import HQ, STORE1, assert_refused_without_writing, issue, rows

from ledger_service import audit, errors
from ledger_service.actor import CUSTOMER
from ledger_service.schema import code_failures, gift_offers

WRONG = "AAAA-AAAA-AAAA"


def test_the_customer_claims_with_the_code(ledger):
    number, code = issue(ledger)
    assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.claim_with_code, CUSTOMER, number, WRONG, "13800000000"
    )
    assert ledger.claim_with_code(CUSTOMER, number, code, "13800000000")["state"] == "CLAIMED"


def test_checking_a_code_spends_nothing_but_counts_as_an_attempt(ledger, stores):
    number, code = issue(ledger)
    assert ledger.verify_code(CUSTOMER, number, code) == {
        "card_number": number,
        "valid": True,
        "state": "ISSUED",
    }
    with pytest.raises(errors.InvalidCode) as wrong:
        ledger.verify_code(CUSTOMER, number, WRONG)
    assert wrong.value.extra["attempts_left"] == 4
    [failure] = rows(ledger, code_failures, code_failures.c.card_number == number)
    assert failure.command == "verify_code"
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_a_gift_is_accepted_by_the_recipient_with_a_new_code(ledger, stores):
    number, code = issue(ledger)
    ledger.claim_with_code(CUSTOMER, number, code, "giver")
    offer = ledger.offer_gift(CUSTOMER, number, code)
    assert offer["state"] == "GIFT_OFFERED"
    # While offered, the card is not usable, not even by its giver.
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.redeem, STORE1, number, code
    )
    with pytest.raises(errors.GiftNotFound):
        ledger.gift_offer(offer["offer_id"], "not-the-token")
    assert ledger.gift_offer(offer["offer_id"], offer["token"])["state"] == "open"
    accepted = ledger.accept_gift(CUSTOMER, offer["offer_id"], offer["token"], "friend")
    assert accepted["state"] == "TRANSFERRED"
    new_code = accepted["redemption_code"]
    assert new_code != code
    with pytest.raises(errors.GiftOfferExpired, match="accepted"):
        ledger.accept_gift(CUSTOMER, offer["offer_id"], offer["token"], "someone else")
    assert_refused_without_writing(ledger, errors.InvalidCode, ledger.redeem, STORE1, number, code)
    assert ledger.redeem(STORE1, number, new_code)["state"] == "REDEEMED"


def test_an_unaccepted_gift_returns_to_the_giver_lazily(ledger, stores, clock):
    number, code = issue(ledger)
    offer = ledger.offer_gift(CUSTOMER, number, code)
    clock.advance(hours=24)
    with pytest.raises(errors.GiftOfferExpired):
        ledger.accept_gift(CUSTOMER, offer["offer_id"], offer["token"], "late friend")
    assert rows(ledger, gift_offers)[0].state == "returned"
    assert ledger.gift_offer(offer["offer_id"], offer["token"])["state"] == "returned"
    assert ledger.get_card(HQ, number)["state"] == "ISSUED"
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_the_expiry_job_returns_gifts_past_their_end(ledger, clock):
    number, code = issue(ledger)
    ledger.offer_gift(CUSTOMER, number, code)
    assert ledger.return_due_gifts() == 0
    clock.advance(hours=25)
    assert ledger.return_due_gifts() == 1
    assert ledger.return_due_gifts() == 0
    history = ledger.get_card(HQ, number)
    assert history["state"] == "ISSUED"
    assert [e["type"] for e in history["events"]][-2:] == ["GIFT_OFFERED", "GIFT_RETURNED"]


def test_a_gift_needs_the_right_code(ledger):
    number, _ = issue(ledger)
    assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.offer_gift, CUSTOMER, number, WRONG
    )


def _history_types(ledger, number) -> list[str]:
    return [e["type"] for e in ledger.get_card(HQ, number)["events"]]


def test_a_withdrawn_gift_returns_the_card_and_its_link_stops_working_at_once(ledger, stores):
    number, code = issue(ledger)
    ledger.claim_with_code(CUSTOMER, number, code, "giver")
    offer = ledger.offer_gift(CUSTOMER, number, code)
    withdrawn = ledger.withdraw_gift(CUSTOMER, number, code)
    assert {k: withdrawn[k] for k in ("offer_id", "state", "offer_state")} == {
        "offer_id": offer["offer_id"],
        "state": "CLAIMED",
        "offer_state": "withdrawn",
    }
    assert _history_types(ledger, number)[-2:] == ["GIFT_OFFERED", "GIFT_WITHDRAWN"]
    assert ledger.gift_offer(offer["offer_id"], offer["token"])["state"] == "withdrawn"
    refusal = assert_refused_without_writing(
        ledger,
        errors.GiftOfferWithdrawn,
        ledger.accept_gift,
        CUSTOMER,
        offer["offer_id"],
        offer["token"],
        "wrong friend",
    )
    assert refusal.code == "GIFT_OFFER_WITHDRAWN"
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_a_withdrawn_link_is_refused_even_when_the_card_is_offered_again(ledger):
    number, code = issue(ledger)
    first = ledger.offer_gift(CUSTOMER, number, code)
    ledger.withdraw_gift(CUSTOMER, number, code)
    second = ledger.offer_gift(CUSTOMER, number, code)
    with pytest.raises(errors.GiftOfferWithdrawn):
        ledger.accept_gift(CUSTOMER, first["offer_id"], first["token"], "wrong friend")
    assert (
        ledger.accept_gift(CUSTOMER, second["offer_id"], second["token"], "friend")["state"]
        == "TRANSFERRED"
    )


def test_a_gift_is_not_withdrawn_once_accepted(ledger):
    number, code = issue(ledger)
    offer = ledger.offer_gift(CUSTOMER, number, code)
    ledger.accept_gift(CUSTOMER, offer["offer_id"], offer["token"], "friend")
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.withdraw_gift, CUSTOMER, number, code
    )


def test_a_card_never_offered_has_no_gift_to_withdraw(ledger):
    number, code = issue(ledger)
    with pytest.raises(errors.InvalidTransition, match="no gift offer"):
        ledger.withdraw_gift(CUSTOMER, number, code)


def test_a_wrong_code_does_not_withdraw_and_counts_toward_the_lockout(ledger):
    number, code = issue(ledger)
    ledger.offer_gift(CUSTOMER, number, code)
    wrong = assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.withdraw_gift, CUSTOMER, number, WRONG
    )
    assert wrong.extra["attempts_left"] == 4
    [failure] = rows(ledger, code_failures, code_failures.c.card_number == number)
    assert failure.command == "withdraw_gift"
    for _ in range(4):
        with pytest.raises(errors.InvalidCode):
            ledger.withdraw_gift(CUSTOMER, number, WRONG)
    # Locked now: even the right code waits, and the offer stays open.
    with pytest.raises(errors.CodeLocked):
        ledger.withdraw_gift(CUSTOMER, number, code)
    assert rows(ledger, gift_offers)[0].state == "open"


def test_withdrawing_again_answers_the_same_withdrawal_without_a_second_event(ledger):
    number, code = issue(ledger)
    ledger.offer_gift(CUSTOMER, number, code)
    first = ledger.withdraw_gift(CUSTOMER, number, code)
    again = ledger.withdraw_gift(CUSTOMER, number, code)
    assert again == first
    assert _history_types(ledger, number).count("GIFT_WITHDRAWN") == 1
    assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.withdraw_gift, CUSTOMER, number, WRONG
    )


def test_withdrawing_an_offer_past_its_end_logs_its_lapse_instead(ledger, clock):
    number, code = issue(ledger)
    offer = ledger.offer_gift(CUSTOMER, number, code)
    clock.advance(hours=25)
    back = ledger.withdraw_gift(CUSTOMER, number, code)
    assert (back["state"], back["offer_state"]) == ("ISSUED", "returned")
    [*_, returned] = ledger.get_card(HQ, number)["events"]
    assert (returned["type"], returned["actor"]["role"]) == ("GIFT_RETURNED", "system")
    with pytest.raises(errors.GiftOfferExpired):
        ledger.accept_gift(CUSTOMER, offer["offer_id"], offer["token"], "late friend")
    assert ledger.return_due_gifts() == 0


def test_a_withdrawn_gift_passes_the_audit(ledger):
    number, code = issue(ledger)
    ledger.offer_gift(CUSTOMER, number, code)
    ledger.withdraw_gift(CUSTOMER, number, code)
    result = audit.run_audit(ledger._engine, lambda contract: None, show_progress=False)
    assert result.ok, result.findings


def test_an_accept_that_read_the_offer_before_its_withdrawal_cannot_take_the_card(
    ledger, monkeypatch
):
    number, code = issue(ledger)
    first = ledger.offer_gift(CUSTOMER, number, code)
    [stale] = rows(ledger, gift_offers)
    ledger.withdraw_gift(CUSTOMER, number, code)
    second = ledger.offer_gift(CUSTOMER, number, code)
    # The accept read the first offer while it was open; it reaches the card only now,
    # when the card is on offer again by a new link.
    monkeypatch.setattr(ledger, "_offer_or_404", lambda offer_id, token: stale)
    assert_refused_without_writing(
        ledger,
        errors.GiftOfferWithdrawn,
        ledger.accept_gift,
        CUSTOMER,
        first["offer_id"],
        first["token"],
        "wrong friend",
    )
    monkeypatch.undo()
    assert ledger.gift_offer(second["offer_id"], second["token"])["state"] == "open"
