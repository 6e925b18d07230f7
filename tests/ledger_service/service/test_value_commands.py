"""Stored-value and count cards through the Ledger: partial redemptions, top-ups, refunds,
adjustments and balance transfers, with the card's balance column and each event's
amount and balance kept in step."""

from __future__ import annotations

import pytest
from ledger_helpers import HQ, STORE1, assert_refused_without_writing, rows

from ledger_service import errors
from ledger_service.schema import cards, event_reasons, events


@pytest.fixture
def value_card(ledger, stores):
    """A sold stored-value card of 100.00 CNY: (number, redemption code)."""
    ledger.create_product(
        HQ, "SV100", "储值卡", "Card", "stored_value", face_value=10_000, currency="CNY"
    )
    [card] = ledger.issue_cards(HQ, "B1", [{"sku": "SV100"}], active=True)["cards"]
    return card["card_number"], card["redemption_code"]


def balance(ledger, number) -> int:
    return rows(ledger, cards, cards.c.number == number)[0].balance


def test_partial_redemptions_take_from_the_balance_until_it_is_too_low(ledger, value_card):
    number, code = value_card
    first = ledger.redeem(STORE1, number, code, amount=3_000)
    assert (first["state"], first["amount"], first["balance"]) == ("ISSUED", 3_000, 7_000)
    ledger.redeem(HQ, number, code, store_id="S1", amount=7_000)
    assert balance(ledger, number) == 0
    assert_refused_without_writing(
        ledger, errors.InsufficientBalance, ledger.redeem, HQ, number, code, amount=1
    )
    # A stored-value card at zero stays usable: it can be loaded again.
    assert ledger.load(STORE1, number, 2_000)["balance"] == 2_000


def test_events_rows_carry_the_signed_change_and_the_balance_after(ledger, value_card):
    number, code = value_card
    redeemed = ledger.redeem(HQ, number, code, amount=2_500)
    ledger.refund(HQ, number, redeemed["leaf_index"], 500)
    ledger.adjust(HQ, number, -100, "till counted short", reason_code="issuer_error")
    logged = rows(ledger, events, events.c.card_number == number)
    columns = [(r.type, r.amount, r.balance) for r in sorted(logged, key=lambda r: r.seq)]
    assert columns == [
        ("ISSUED", 10_000, 10_000),
        ("REDEEMED", -2_500, 7_500),
        ("REFUNDED", 500, 8_000),
        ("ADJUSTED", -100, 7_900),
    ]
    assert balance(ledger, number) == 7_900


def test_a_refund_returns_at_most_what_its_redemption_took(ledger, value_card):
    number, code = value_card
    first = ledger.redeem(HQ, number, code, amount=3_000)
    second = ledger.redeem(HQ, number, code, amount=1_000)
    done = ledger.refund(STORE1, number, first["leaf_index"], 2_000)
    assert (done["balance"], done["amount"]) == (8_000, 2_000)
    event = ledger.get_card(HQ, number)["events"][-1]
    assert event["data"] == {"amount": 2_000, "balance": 8_000, "refund_of": first["leaf_index"]}
    assert_refused_without_writing(
        ledger, errors.RefundTooLarge, ledger.refund, HQ, number, first["leaf_index"], 1_001
    )
    ledger.refund(HQ, number, first["leaf_index"], 1_000)
    ledger.refund(HQ, number, second["leaf_index"], 1_000)
    assert balance(ledger, number) == 10_000
    # Only a redemption of this card can be refunded.
    with pytest.raises(errors.RefundTooLarge):
        ledger.refund(HQ, number, done["leaf_index"], 1)


def test_an_adjustment_keeps_its_reason_text_off_the_log(ledger, value_card):
    number, _ = value_card
    done = ledger.adjust(
        HQ, number, 250, "goodwill after a complaint", reason_code="customer_request"
    )
    event = ledger.get_card(HQ, number)["events"][-1]
    assert event["data"]["reason_code"] == "customer_request"
    assert "goodwill" not in str(event)
    [reason] = rows(ledger, event_reasons, event_reasons.c.leaf_index == done["leaf_index"])
    assert reason.text == "goodwill after a complaint"
    with pytest.raises(errors.Forbidden):
        ledger.adjust(STORE1, number, 1)
    assert_refused_without_writing(
        ledger, errors.InsufficientBalance, ledger.adjust, HQ, number, -20_000
    )


def test_a_balance_transfer_is_one_command_with_an_event_on_each_card(ledger, value_card):
    number, code = value_card
    [other] = ledger.issue_cards(HQ, "B2", [{"sku": "SV100"}], active=True)["cards"]
    done = ledger.transfer_balance(HQ, number, code, other["card_number"], 4_000)
    assert (done["sender"]["balance"], done["receiver"]["balance"]) == (6_000, 14_000)
    assert done["receiver"]["leaf_index"] == done["sender"]["leaf_index"] + 1
    sent = ledger.get_card(HQ, number)["events"][-1]
    received = ledger.get_card(HQ, other["card_number"])["events"][-1]
    assert (sent["type"], received["type"]) == ("BALANCE_SENT", "BALANCE_RECEIVED")
    assert sent["data"]["counterpart"] == received["card"]
    assert received["data"]["counterpart"] == sent["card"]
    for bad, amount, error in (
        (code, 6_001, errors.InsufficientBalance),
        ("WRONG-CODE", 100, errors.InvalidCode),
    ):
        assert_refused_without_writing(
            ledger, error, ledger.transfer_balance, HQ, number, bad, other["card_number"], amount
        )


def test_count_cards_spend_uses_and_are_used_up_at_zero(ledger, stores):
    ledger.create_product(HQ, "WASH3", "洗车三次卡", "3 car washes", "count", units=3)
    [card] = ledger.issue_cards(HQ, "B1", [{"sku": "WASH3"}])["cards"]
    number, code = card["card_number"], card["redemption_code"]
    ledger.activate(HQ, number)
    assert ledger.redeem(STORE1, number, code)["balance"] == 2
    assert ledger.redeem(STORE1, number, code, amount=2)["state"] == "REDEEMED"
    with pytest.raises(errors.CardAlreadyUsed):
        ledger.redeem(STORE1, number, code)
    with pytest.raises(errors.CardAlreadyUsed):
        ledger.load(HQ, number, 1)


def test_pickup_cards_take_no_amount_and_no_top_up(ledger):
    [card] = ledger.issue_cards(HQ, "B1", [{"product": "Tea"}], active=True)["cards"]
    number, code = card["card_number"], card["redemption_code"]
    with pytest.raises(errors.WrongCardKind):
        ledger.load(HQ, number, 100)
    with pytest.raises(errors.WrongCardKind):
        ledger.redeem(HQ, number, code, amount=100)
    assert "balance" not in ledger.redeem(HQ, number, code)
