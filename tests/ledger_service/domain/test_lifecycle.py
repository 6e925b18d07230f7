"""Every card state × every command, against a table written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger_service import errors
from ledger_service.domain.lifecycle import (
    AcceptGift,
    Block,
    CancelPickup,
    Card,
    CardState,
    Claim,
    EventType,
    Expire,
    MovePickup,
    OfferGift,
    PickupComplete,
    PickupReady,
    PickupReview,
    PickupShip,
    Redeem,
    RequestPickup,
    ReturnGift,
    Store,
    Transfer,
    Unblock,
    Void,
    WithdrawGift,
    decide,
)

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)
EARLIER = NOW - timedelta(days=1)
S1 = Store("S1", "Flagship", "north")
S2 = Store("S2", "Harbour", "south")

COMMANDS = {
    "claim": Claim("h1"),
    "transfer": Transfer("h2"),
    "pickup_store": RequestPickup("pk_1", "store", S1),
    "pickup_delivery": RequestPickup("pk_1", "delivery"),
    "cancel": CancelPickup("pk_1", CardState.CLAIMED),
    "move": MovePickup("pk_1", "store", S2, "2026-11-26"),
    "ready": PickupReady("pk_1", "store", S1),
    "review": PickupReview("pk_1", "delivery"),
    "ship": PickupShip("pk_1", "delivery", None, "SF", "ab" * 32),
    "done_store": PickupComplete("pk_1", "store", S1, "rotating_code", ("SN-1",)),
    "done_delivery": PickupComplete("pk_1", "delivery"),
    "offer": OfferGift("gf_1", NOW + timedelta(days=1)),
    "accept": AcceptGift("gf_1", "h3", NOW + timedelta(days=1)),
    "giveback": ReturnGift("gf_1", CardState.CLAIMED, EARLIER),
    "withdraw": WithdrawGift("gf_1", CardState.CLAIMED, NOW + timedelta(days=1)),
    "redeem": Redeem(S1),
    "block": Block("stolen"),
    "unblock": Unblock(),
    "void": Void("refund"),
    "expire": Expire(),
}

# Outcome codes: an event type accepted, or the refusal's class.
OUT = {
    "CLM": EventType.CLAIMED,
    "TRF": EventType.TRANSFERRED,
    "PRQ": EventType.PICKUP_REQUESTED,
    "CNL": EventType.PICKUP_CANCELLED,
    "MOV": EventType.PICKUP_MOVED,
    "REV": EventType.PICKUP_REVIEWED,
    "GFO": EventType.GIFT_OFFERED,
    "ACC": EventType.GIFT_ACCEPTED,
    "RET": EventType.GIFT_RETURNED,
    "WDR": EventType.GIFT_WITHDRAWN,
    "RDY": EventType.PICKUP_READY,
    "SHP": EventType.PICKUP_SHIPPED,
    "CMP": EventType.PICKUP_COMPLETED,
    "RDM": EventType.REDEEMED,
    "BLK": EventType.BLOCKED,
    "UNB": EventType.UNBLOCKED,
    "VOI": EventType.VOIDED,
    "EXP": EventType.EXPIRED,
    "inv": errors.InvalidTransition,
    "used": errors.CardAlreadyUsed,
    "void": errors.CardVoided,
    "expd": errors.CardExpired,
    "blkd": errors.CardBlocked,
    "nact": errors.CardNotActive,
}

# The blocked row is a card blocked while CLAIMED. "expire" runs on a card whose date has
# passed; every other column on a card whose date is still ahead.
TABLE = """
state             claim transfer pickup_store pickup_delivery cancel move ready review ship done_store done_delivery offer accept giveback withdraw redeem block unblock void expire
INACTIVE          nact  nact     nact         nact            nact   nact nact  nact   nact nact       nact          nact  nact   nact     nact     nact   BLK   nact    VOI  EXP
ISSUED            CLM   inv      PRQ          PRQ             inv    inv  inv   inv    inv  inv        inv           GFO   inv    inv      inv      RDM    BLK   inv     VOI  EXP
CLAIMED           inv   TRF      PRQ          PRQ             inv    inv  inv   inv    inv  inv        inv           GFO   inv    inv      inv      RDM    BLK   inv     VOI  EXP
TRANSFERRED       inv   TRF      PRQ          PRQ             inv    inv  inv   inv    inv  inv        inv           GFO   inv    inv      inv      RDM    BLK   inv     VOI  EXP
PICKUP_REQUESTED  inv   inv      used         used            CNL    MOV  RDY   REV    inv  inv        inv           inv   inv    inv      inv      used   BLK   inv     VOI  inv
PICKUP_READY      inv   inv      used         used            inv    inv  inv   inv    inv  CMP        inv           inv   inv    inv      inv      used   BLK   inv     VOI  inv
PICKUP_REVIEWED   inv   inv      used         used            CNL    inv  inv   inv    SHP  inv        inv           inv   inv    inv      inv      used   BLK   inv     VOI  inv
PICKUP_SHIPPED    inv   inv      used         used            inv    inv  inv   inv    inv  inv        CMP           inv   inv    inv      inv      used   BLK   inv     inv  inv
GIFT_OFFERED      inv   inv      inv          inv             inv    inv  inv   inv    inv  inv        inv           inv   ACC    RET      WDR      inv    BLK   inv     VOI  inv
PICKUP_COMPLETED  used  used     used         used            used   used used  used   used used       used          used  used   used     used     used   used  used    used used
REDEEMED          used  used     used         used            used   used used  used   used used       used          used  used   used     used     used   used  used    used used
BLOCKED           blkd  blkd     blkd         blkd            blkd   blkd blkd  blkd   blkd blkd       blkd          blkd  blkd   blkd     blkd     blkd   blkd  UNB     VOI  EXP
VOIDED            void  void     void         void            void   void void  void   void void       void          void  void   void     void     void   void  void    void void
EXPIRED           expd  expd     expd         expd            expd   expd expd  expd   expd expd       expd          expd  expd   expd     expd     expd   expd  expd    expd expd
"""


def _table() -> list[tuple[CardState, str, str]]:
    header, *rows = TABLE.strip().splitlines()
    columns = header.split()[1:]
    assert sorted(columns) == sorted(COMMANDS), "the table must cover every command"
    cells = []
    for row in rows:
        state, *outcomes = row.split()
        assert len(outcomes) == len(columns), f"row {state} has a wrong number of cells"
        cells.extend(
            (CardState(state), col, out) for col, out in zip(columns, outcomes, strict=True)
        )
    assert {state for state, _, _ in cells} == set(CardState), "the table must cover every state"
    return cells


CASES = _table()


def _card(state: CardState, command: str) -> Card:
    return Card(
        state,
        expires_at=EARLIER if command == "expire" else LATER,
        blocked_from=CardState.CLAIMED if state is CardState.BLOCKED else None,
    )


@pytest.mark.parametrize(
    ("state", "command", "outcome"), CASES, ids=[f"{s}-{c}" for s, c, _ in CASES]
)
def test_every_state_and_command(state, command, outcome):
    expected = OUT[outcome]
    card = _card(state, command)
    if isinstance(expected, EventType):
        draft = decide(card, COMMANDS[command], NOW)
        assert draft.type is expected
    else:
        with pytest.raises(expected):
            decide(card, COMMANDS[command], NOW)


def test_accepted_events_move_the_card_to_the_state_of_the_same_name():
    for state, command, outcome in CASES:
        expected = OUT[outcome]
        # These return the card to a state of its own, or keep it where it is.
        elsewhere = (
            EventType.UNBLOCKED,
            EventType.PICKUP_CANCELLED,
            EventType.PICKUP_MOVED,
            EventType.GIFT_ACCEPTED,
            EventType.GIFT_RETURNED,
            EventType.GIFT_WITHDRAWN,
        )
        if isinstance(expected, EventType) and expected not in elsewhere:
            draft = decide(_card(state, command), COMMANDS[command], NOW)
            assert draft.state.value == expected.value, (state, command)


@pytest.mark.parametrize(
    "held",
    [
        CardState.ISSUED,
        CardState.CLAIMED,
        CardState.TRANSFERRED,
        CardState.PICKUP_REQUESTED,
        CardState.PICKUP_READY,
        CardState.PICKUP_SHIPPED,
    ],
)
def test_unblock_returns_the_card_to_the_state_it_was_blocked_in(held):
    blocked = decide(Card(held), Block("check"), NOW)
    assert (blocked.state, blocked.blocked_from) == (CardState.BLOCKED, held)
    released = decide(Card(CardState.BLOCKED, blocked_from=held), Unblock(), NOW)
    assert released.state is held
    assert released.blocked_from is None


def test_blocking_a_blocked_card_is_refused():
    with pytest.raises(errors.CardBlocked):
        decide(Card(CardState.BLOCKED, blocked_from=CardState.ISSUED), Block(), NOW)


def test_a_blocked_card_whose_goods_shipped_cannot_be_voided():
    card = Card(CardState.BLOCKED, blocked_from=CardState.PICKUP_SHIPPED)
    with pytest.raises(errors.InvalidTransition, match="shipped"):
        decide(card, Void(), NOW)


def test_a_blocked_card_with_a_pickup_under_way_does_not_expire():
    card = Card(CardState.BLOCKED, expires_at=EARLIER, blocked_from=CardState.PICKUP_READY)
    with pytest.raises(errors.InvalidTransition, match="pickup"):
        decide(card, Expire(), NOW)


@pytest.mark.parametrize(
    "command", ["claim", "transfer", "pickup_store", "pickup_delivery", "redeem"]
)
def test_a_card_past_its_date_cannot_be_used_before_the_expiry_job_runs(command):
    state = CardState.ISSUED if command in ("claim", "redeem") else CardState.CLAIMED
    with pytest.raises(errors.CardExpired, match="expiry date has passed"):
        decide(Card(state, expires_at=EARLIER), COMMANDS[command], NOW)


def test_a_pickup_under_way_is_honoured_after_the_card_date_passes():
    card = Card(CardState.PICKUP_REQUESTED, expires_at=EARLIER)
    assert decide(card, COMMANDS["ready"], NOW).type is EventType.PICKUP_READY


def test_headquarters_can_block_and_void_a_card_past_its_date():
    card = Card(CardState.CLAIMED, expires_at=EARLIER)
    assert decide(card, Block(), NOW).type is EventType.BLOCKED
    assert decide(card, Void(), NOW).type is EventType.VOIDED


@pytest.mark.parametrize("expires_at", [None, LATER, NOW + timedelta(milliseconds=1)])
def test_expire_is_refused_before_the_date(expires_at):
    with pytest.raises(errors.InvalidTransition, match="not passed"):
        decide(Card(CardState.ISSUED, expires_at=expires_at), Expire(), NOW)


def test_expire_at_the_exact_date_is_accepted_and_dated_at_the_expiry():
    draft = decide(Card(CardState.CLAIMED, expires_at=NOW), Expire(), NOW + timedelta(hours=3))
    assert draft.type is EventType.EXPIRED
    assert draft.occurred_at == NOW


def test_a_card_without_allow_lists_is_valid_in_every_store():
    assert decide(Card(CardState.ISSUED), Redeem(S2), NOW).store_id == "S2"


def test_redeem_at_a_store_outside_the_allowed_stores_is_refused():
    card = Card(CardState.ISSUED, allowed_stores=frozenset({"S1"}))
    with pytest.raises(errors.StoreNotAllowed, match="S2"):
        decide(card, Redeem(S2), NOW)


def test_a_region_on_the_card_allows_every_store_of_that_region():
    card = Card(CardState.ISSUED, allowed_regions=frozenset({"south"}))
    assert decide(card, Redeem(S2), NOW).type is EventType.REDEEMED
    with pytest.raises(errors.StoreNotAllowed):
        decide(card, Redeem(S1), NOW)


def test_stores_and_regions_on_one_card_add_up():
    card = Card(
        CardState.CLAIMED, allowed_stores=frozenset({"S1"}), allowed_regions=frozenset({"south"})
    )
    assert decide(card, Redeem(S1), NOW).type is EventType.REDEEMED
    assert decide(card, RequestPickup("pk", "store", S2), NOW).type is EventType.PICKUP_REQUESTED


def test_a_store_pickup_at_a_store_outside_the_allow_list_is_refused():
    card = Card(CardState.CLAIMED, allowed_stores=frozenset({"S1"}))
    with pytest.raises(errors.StoreNotAllowed):
        decide(card, RequestPickup("pk", "store", S2), NOW)


def test_a_delivery_pickup_ignores_store_restrictions():
    card = Card(CardState.CLAIMED, allowed_stores=frozenset({"S1"}))
    draft = decide(card, RequestPickup("pk_9", "delivery"), NOW)
    assert (draft.store_id, draft.data) == (
        None,
        {"pickup_id": "pk_9", "mode": "delivery", "day": None, "address_hash": None},
    )


def test_redemption_without_a_store_is_recorded_without_one():
    assert decide(Card(CardState.ISSUED), Redeem(None), NOW).store_id is None


def test_event_data_names_the_holder_tag_and_the_pickup():
    assert decide(Card(CardState.ISSUED), Claim("tag1"), NOW).data == {"holder": "tag1"}
    assert decide(Card(CardState.CLAIMED), Transfer("tag2"), NOW).data == {"holder": "tag2"}
    ready = decide(Card(CardState.PICKUP_REQUESTED), PickupReady("pk_3", "store", S1), NOW)
    assert (ready.store_id, ready.data) == ("S1", {"pickup_id": "pk_3"})


def test_marking_a_delivery_ready_names_the_mode():
    with pytest.raises(errors.InvalidTransition, match="delivery pickup"):
        decide(Card(CardState.PICKUP_REQUESTED), PickupReady("pk", "delivery"), NOW)


def test_refusals_carry_their_stable_codes():
    with pytest.raises(errors.CardAlreadyUsed) as used:
        decide(Card(CardState.REDEEMED), Redeem(S1), NOW)
    assert (used.value.code, used.value.status) == ("CARD_ALREADY_USED", 409)
    with pytest.raises(errors.StoreNotAllowed) as other:
        decide(Card(CardState.ISSUED, allowed_stores=frozenset({"S2"})), Redeem(S1), NOW)
    assert (other.value.code, other.value.status) == ("STORE_NOT_ALLOWED", 403)


def test_a_bearer_card_asks_for_its_goods_without_a_claim():
    draft = decide(Card(CardState.ISSUED), RequestPickup("pk_2", "store", S1, "2026-11-25"), NOW)
    assert (draft.state, draft.store_id) == (CardState.PICKUP_REQUESTED, "S1")
    assert draft.data == {
        "pickup_id": "pk_2",
        "mode": "store",
        "day": "2026-11-25",
        "address_hash": None,
    }


@pytest.mark.parametrize("back_to", [CardState.ISSUED, CardState.CLAIMED, CardState.TRANSFERRED])
def test_a_cancelled_pickup_returns_the_card_to_its_state_before(back_to):
    draft = decide(Card(CardState.PICKUP_REQUESTED), CancelPickup("pk_1", back_to), NOW)
    assert (draft.type, draft.state, draft.data) == (
        EventType.PICKUP_CANCELLED,
        back_to,
        {"pickup_id": "pk_1"},
    )


def test_a_cancel_cannot_send_a_card_anywhere_but_unused():
    with pytest.raises(errors.InvalidTransition):
        decide(Card(CardState.PICKUP_REQUESTED), CancelPickup("pk", CardState.REDEEMED), NOW)


def test_a_move_names_the_new_store_and_day_and_respects_the_allow_list():
    draft = decide(Card(CardState.PICKUP_REQUESTED), COMMANDS["move"], NOW)
    assert (draft.store_id, draft.data) == ("S2", {"pickup_id": "pk_1", "day": "2026-11-26"})
    card = Card(CardState.PICKUP_REQUESTED, allowed_stores=frozenset({"S1"}))
    with pytest.raises(errors.StoreNotAllowed):
        decide(card, COMMANDS["move"], NOW)
    with pytest.raises(errors.InvalidTransition, match="store pickup"):
        decide(Card(CardState.PICKUP_REQUESTED), MovePickup("pk", "delivery", None), NOW)


def test_shipping_and_completion_carry_their_data():
    shipped = decide(Card(CardState.PICKUP_REVIEWED), COMMANDS["ship"], NOW)
    assert shipped.data == {"pickup_id": "pk_1", "carrier": "SF", "tracking_hash": "ab" * 32}
    done = decide(Card(CardState.PICKUP_READY), COMMANDS["done_store"], NOW)
    assert done.data == {"pickup_id": "pk_1", "credential": "rotating_code", "serials": ["SN-1"]}
    delivered = decide(Card(CardState.PICKUP_SHIPPED), COMMANDS["done_delivery"], NOW)
    assert delivered.data == {"pickup_id": "pk_1", "credential": None, "serials": []}


def test_a_store_pickup_is_not_completed_without_the_customers_credential():
    with pytest.raises(errors.ValidationFailed, match="code"):
        decide(Card(CardState.PICKUP_READY), PickupComplete("pk", "store", S1), NOW)
    with pytest.raises(errors.ValidationFailed):
        decide(
            Card(CardState.PICKUP_SHIPPED), PickupComplete("pk", "delivery", None, "card_code"), NOW
        )


def test_a_gift_offer_is_accepted_until_it_ends_and_returned_after():
    offered = decide(Card(CardState.CLAIMED), COMMANDS["offer"], NOW)
    assert offered.data == {"offer_id": "gf_1", "expires_at": "2026-11-25T06:00:00.000Z"}
    ends = NOW + timedelta(hours=1)
    accepted = decide(Card(CardState.GIFT_OFFERED), AcceptGift("gf_1", "h9", ends), NOW)
    assert (accepted.state, accepted.data) == (
        CardState.TRANSFERRED,
        {"offer_id": "gf_1", "holder": "h9"},
    )
    with pytest.raises(errors.GiftOfferExpired):
        decide(Card(CardState.GIFT_OFFERED), AcceptGift("gf_1", "h9", NOW), NOW)
    with pytest.raises(errors.InvalidTransition, match="still open"):
        decide(Card(CardState.GIFT_OFFERED), ReturnGift("gf_1", CardState.ISSUED, ends), NOW)
    returned = decide(Card(CardState.GIFT_OFFERED), ReturnGift("gf_1", CardState.ISSUED, NOW), ends)
    assert (returned.state, returned.occurred_at) == (CardState.ISSUED, NOW)


def test_an_open_gift_offer_is_withdrawn_to_the_givers_state_at_once():
    ends = NOW + timedelta(hours=1)
    withdrawn = decide(
        Card(CardState.GIFT_OFFERED), WithdrawGift("gf_1", CardState.TRANSFERRED, ends), NOW
    )
    assert (withdrawn.type, withdrawn.state, withdrawn.occurred_at, withdrawn.data) == (
        EventType.GIFT_WITHDRAWN,
        CardState.TRANSFERRED,
        NOW,
        {"offer_id": "gf_1"},
    )


def test_a_gift_offer_past_its_end_is_not_withdrawn_but_returned():
    with pytest.raises(errors.GiftOfferExpired):
        decide(Card(CardState.GIFT_OFFERED), WithdrawGift("gf_1", CardState.CLAIMED, NOW), NOW)


def test_a_withdrawn_gift_returns_the_card_only_to_an_unused_state():
    ends = NOW + timedelta(hours=1)
    with pytest.raises(errors.InvalidTransition, match="cannot return"):
        decide(Card(CardState.GIFT_OFFERED), WithdrawGift("gf_1", CardState.REDEEMED, ends), NOW)


def test_a_gift_offer_on_a_card_past_its_date_can_still_be_withdrawn():
    card = Card(CardState.GIFT_OFFERED, expires_at=EARLIER)
    ends = NOW + timedelta(hours=1)
    assert decide(card, WithdrawGift("gf_1", CardState.CLAIMED, ends), NOW).state is (
        CardState.CLAIMED
    )


def test_a_gift_offer_must_end_in_the_future_and_not_on_an_expired_card():
    with pytest.raises(errors.ValidationFailed):
        decide(Card(CardState.CLAIMED), OfferGift("gf", NOW), NOW)
    with pytest.raises(errors.CardExpired):
        decide(Card(CardState.CLAIMED, expires_at=EARLIER), COMMANDS["offer"], NOW)
