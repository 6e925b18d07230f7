"""Gifts by share link, the customer's own claim and 卡密验证."""

from __future__ import annotations

import pytest
from ledger_helpers import HQ, STORE1, assert_refused_without_writing, issue, rows

from ledger_service import errors
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
