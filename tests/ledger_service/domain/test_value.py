"""Value cards under the lifecycle rules: activation, partial redemptions, top-ups,
refunds, adjustments and balance transfers, and the pure balance arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger_service import errors
from ledger_service.domain import value
from ledger_service.domain.lifecycle import (
    Activate,
    Adjust,
    Block,
    Card,
    CardState,
    Claim,
    EventType,
    Expire,
    Load,
    ReceiveBalance,
    Redeem,
    Refund,
    RequestPickup,
    SendBalance,
    Store,
    Void,
    decide,
)

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
S1 = Store("S1", "Flagship", "north")


def stored(balance: int | None = 10_000, state: CardState = CardState.ISSUED, **kw) -> Card:
    return Card(state, kind="stored_value", balance=balance, face_value=10_000, **kw)


def count(balance: int | None = 3, state: CardState = CardState.ISSUED) -> Card:
    return Card(state, kind="count", balance=balance, units=3)


@pytest.mark.parametrize(
    "command",
    [Claim("h"), Redeem(S1), Redeem(S1, 100), Load(100), Adjust(5), SendBalance(1, "c")],
    ids=["claim", "redeem", "redeem_amount", "load", "adjust", "send"],
)
def test_every_use_of_an_inactive_card_is_refused_as_not_active(command):
    with pytest.raises(errors.CardNotActive):
        decide(stored(None, CardState.INACTIVE), command, NOW)


def test_an_inactive_card_may_still_be_blocked_voided_and_expired():
    card = stored(None, CardState.INACTIVE, expires_at=NOW - timedelta(days=1))
    assert decide(card, Block(), NOW).blocked_from is CardState.INACTIVE
    assert decide(card, Void(), NOW).state is CardState.VOIDED
    assert decide(card, Expire(), NOW).state is CardState.EXPIRED


def test_activation_opens_the_balance_and_records_the_sale():
    draft = decide(stored(None, CardState.INACTIVE), Activate("JD", 9_500, S1), NOW)
    assert (draft.type, draft.state, draft.store_id) == (
        EventType.ACTIVATED,
        CardState.ISSUED,
        "S1",
    )
    assert draft.data == {"channel": "JD", "price": 9_500, "balance": 10_000}
    uses = decide(count(None, CardState.INACTIVE), Activate(), NOW)
    assert uses.data == {"channel": None, "price": None, "balance": 3}
    pickup = decide(Card(CardState.INACTIVE), Activate(price=100), NOW)
    assert pickup.data["balance"] is None


def test_activating_twice_is_refused():
    with pytest.raises(errors.InvalidTransition):
        decide(stored(), Activate(), NOW)


def test_a_partial_redemption_keeps_a_stored_value_card_in_its_state():
    draft = decide(stored(state=CardState.CLAIMED), Redeem(S1, 2_500), NOW)
    assert (draft.type, draft.state) == (EventType.REDEEMED, CardState.CLAIMED)
    assert draft.data == {"amount": 2_500, "balance": 7_500}
    emptied = decide(stored(2_500), Redeem(S1, 2_500), NOW)
    assert (emptied.state, emptied.data["balance"]) == (CardState.ISSUED, 0)


def test_a_redemption_beyond_the_balance_is_refused():
    with pytest.raises(errors.InsufficientBalance):
        decide(stored(999), Redeem(S1, 1_000), NOW)


def test_a_stored_value_redemption_needs_an_amount_and_a_pickup_card_takes_none():
    with pytest.raises(errors.ValidationFailed):
        decide(stored(), Redeem(S1), NOW)
    with pytest.raises(errors.WrongCardKind):
        decide(Card(CardState.ISSUED), Redeem(S1, 100), NOW)
    with pytest.raises(errors.ValidationFailed):
        decide(stored(), Redeem(S1, 0), NOW)


def test_a_count_card_uses_one_by_default_and_is_used_up_at_zero():
    first = decide(count(2), Redeem(S1), NOW)
    assert (first.state, first.data) == (CardState.ISSUED, {"amount": 1, "balance": 1})
    last = decide(count(1), Redeem(S1), NOW)
    assert (last.state, last.data["balance"]) == (CardState.REDEEMED, 0)


def test_loading_adds_to_a_stored_value_card_only():
    assert decide(stored(0), Load(500), NOW).data == {"amount": 500, "balance": 500}
    with pytest.raises(errors.WrongCardKind):
        decide(count(), Load(1), NOW)


def test_a_refund_is_at_most_what_is_left_of_its_redemption():
    draft = decide(stored(7_000), Refund(1_000, 12, refundable=3_000), NOW)
    assert draft.data == {"amount": 1_000, "balance": 8_000, "refund_of": 12}
    with pytest.raises(errors.RefundTooLarge):
        decide(stored(7_000), Refund(3_001, 12, refundable=3_000), NOW)


def test_an_adjustment_is_signed_and_never_below_zero():
    down = decide(stored(500), Adjust(-200, "issuer_error", "ab"), NOW)
    assert down.data == {
        "amount": -200,
        "balance": 300,
        "reason_code": "issuer_error",
        "reason_hash": "ab",
    }
    with pytest.raises(errors.InsufficientBalance):
        decide(stored(500), Adjust(-501), NOW)
    with pytest.raises(errors.ValidationFailed):
        decide(stored(500), Adjust(0), NOW)


def test_balance_moves_between_stored_value_cards():
    sent = decide(stored(1_000), SendBalance(400, "beef"), NOW)
    got = decide(stored(0), ReceiveBalance(400, "cafe"), NOW)
    assert sent.data == {"amount": 400, "balance": 600, "counterpart": "beef"}
    assert got.data == {"amount": 400, "balance": 400, "counterpart": "cafe"}
    with pytest.raises(errors.InsufficientBalance):
        decide(stored(399), SendBalance(400, "beef"), NOW)
    with pytest.raises(errors.CardNotActive):
        decide(stored(None, CardState.INACTIVE), ReceiveBalance(1, "cafe"), NOW)


def test_value_cards_past_their_date_are_refused_and_have_no_goods_to_pick_up():
    late = stored(expires_at=NOW - timedelta(seconds=1))
    for command in (Redeem(S1, 1), Load(1), Activate()):
        with pytest.raises(errors.CardExpired):
            decide(late, command, NOW)
    with pytest.raises(errors.WrongCardKind):
        decide(stored(state=CardState.CLAIMED), RequestPickup("pk", "delivery"), NOW)


def test_event_columns_follow_the_verifiers_rule():
    """balance(previous) + delta == balance for every value event."""
    events = [
        ("ACTIVATED", {"channel": None, "price": None, "balance": 10_000}),
        ("REDEEMED", {"amount": 3_000, "balance": 7_000}),
        ("REFUNDED", {"amount": 1_000, "balance": 8_000, "refund_of": 5}),
        ("LOADED", {"amount": 500, "balance": 8_500}),
        ("ADJUSTED", {"amount": -100, "balance": 8_400}),
        ("BALANCE_SENT", {"amount": 400, "balance": 8_000}),
        ("BALANCE_RECEIVED", {"amount": 50, "balance": 8_050}),
    ]
    balance = 0
    for kind, data in events:
        delta, after = value.event_columns(kind, data)
        assert delta is not None and balance + delta == after, kind
        balance = after
    assert value.event_columns("CLAIMED", {"holder": "h"}) == (None, None)
    # An old ISSUED event (no "active") opens no balance: it was a pickup card.
    assert value.event_columns("ISSUED", {"product": "Tea", "face_value": 100}) == (None, None)
    sold_at_once = {"kind": "stored_value", "face_value": 5_000, "units": 1, "active": True}
    assert value.event_columns("ISSUED", sold_at_once) == (5_000, 5_000)
