"""The card lifecycle as one pure function: ``decide(card, command, now)``.

``decide`` returns the :class:`EventDraft` an accepted command produces, or raises the
typed refusal from :mod:`ledger_service.errors`. It reads no database and no clock, so
every state × command pair is tested as a plain table.

    >>> from datetime import UTC, datetime
    >>> from ledger_service.domain.lifecycle import Card, CardState, Redeem, Store, decide
    >>> store = Store("S1", "Flagship", "north")
    >>> draft = decide(Card(CardState.CLAIMED), Redeem(store), datetime.now(UTC))
    >>> draft.type, draft.state, draft.store_id
    (<EventType.REDEEMED: 'REDEEMED'>, <CardState.REDEEMED: 'REDEEMED'>, 'S1')
    >>> decide(Card(CardState.REDEEMED), Redeem(store), datetime.now(UTC))
    Traceback (most recent call last):
    ...
    ledger_service.errors.CardAlreadyUsed: card was already redeemed

Paths: ISSUED → CLAIMED → TRANSFERRED* → PICKUP_REQUESTED → PICKUP_READY (collected in a
store) or PICKUP_REVIEWED → PICKUP_SHIPPED (delivered) → PICKUP_COMPLETED; or REDEEMED at a
store (from ISSUED, CLAIMED or TRANSFERRED). A bearer card (ISSUED) may ask for its goods
without a claim: its code is enough. A pickup is cancelled (back to the state before it)
or moved until it is ready or shipped. A gift (GIFT_OFFERED) holds the card until the
recipient accepts it (GIFT_ACCEPTED: TRANSFERRED), the giver withdraws it while it is open
(GIFT_WITHDRAWN: back) or it times out (GIFT_RETURNED: back).
BLOCKED holds a card in its state until UNBLOCKED.
PICKUP_COMPLETED, REDEEMED, VOIDED and EXPIRED are final. Only unused cards expire: a
pickup under way is honoured even when the card's date passes meanwhile.

Cards are issued INACTIVE (in stock, at a distributor) unless sold at once: every use of
an inactive card is refused with CARD_NOT_ACTIVE until ACTIVATED (the sale) makes it
ISSUED; it may still be blocked, voided or expire. Stored-value and count cards hold a
balance (:mod:`ledger_service.domain.value`): REDEEMED with an amount, LOADED, REFUNDED,
ADJUSTED, BALANCE_SENT and BALANCE_RECEIVED move it and leave the card in its state, but
a count card whose uses reach zero is REDEEMED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from ledger_service import errors
from ledger_service.domain import value
from ledger_service.events import format_timestamp


class CardState(StrEnum):
    """Where a card is in its life."""

    INACTIVE = "INACTIVE"
    ISSUED = "ISSUED"
    CLAIMED = "CLAIMED"
    TRANSFERRED = "TRANSFERRED"
    PICKUP_REQUESTED = "PICKUP_REQUESTED"
    PICKUP_READY = "PICKUP_READY"
    PICKUP_REVIEWED = "PICKUP_REVIEWED"
    PICKUP_SHIPPED = "PICKUP_SHIPPED"
    PICKUP_COMPLETED = "PICKUP_COMPLETED"
    REDEEMED = "REDEEMED"
    BLOCKED = "BLOCKED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"
    GIFT_OFFERED = "GIFT_OFFERED"


class EventType(StrEnum):
    """The ``type`` of a log event."""

    ISSUED = "ISSUED"
    CLAIMED = "CLAIMED"
    TRANSFERRED = "TRANSFERRED"
    PICKUP_REQUESTED = "PICKUP_REQUESTED"
    PICKUP_READY = "PICKUP_READY"
    PICKUP_SHIPPED = "PICKUP_SHIPPED"
    PICKUP_COMPLETED = "PICKUP_COMPLETED"
    REDEEMED = "REDEEMED"
    BLOCKED = "BLOCKED"
    UNBLOCKED = "UNBLOCKED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"
    ACTIVATED = "ACTIVATED"
    LOADED = "LOADED"
    REFUNDED = "REFUNDED"
    ADJUSTED = "ADJUSTED"
    BALANCE_SENT = "BALANCE_SENT"
    BALANCE_RECEIVED = "BALANCE_RECEIVED"
    PICKUP_CANCELLED = "PICKUP_CANCELLED"
    PICKUP_MOVED = "PICKUP_MOVED"
    PICKUP_REVIEWED = "PICKUP_REVIEWED"
    GIFT_OFFERED = "GIFT_OFFERED"
    GIFT_ACCEPTED = "GIFT_ACCEPTED"
    GIFT_RETURNED = "GIFT_RETURNED"
    GIFT_WITHDRAWN = "GIFT_WITHDRAWN"


USED = frozenset({CardState.PICKUP_COMPLETED, CardState.REDEEMED})
PICKUP_IN_PROGRESS = frozenset(
    {
        CardState.PICKUP_REQUESTED,
        CardState.PICKUP_READY,
        CardState.PICKUP_REVIEWED,
        CardState.PICKUP_SHIPPED,
    }
)
CANCELLABLE = frozenset({CardState.PICKUP_REQUESTED, CardState.PICKUP_REVIEWED})
"""A pickup may be called off until it is ready in its store or shipped."""
UNUSED = frozenset({CardState.ISSUED, CardState.CLAIMED, CardState.TRANSFERRED})
HELD = frozenset({CardState.CLAIMED, CardState.TRANSFERRED})
"""States with a known holder: only these may be transferred or picked up."""

EXPIRABLE = UNUSED | {CardState.INACTIVE}
"""States whose cards expire when their date passes (stock that was never sold too)."""

CardKind = Literal["pickup", "stored_value", "count"]
CARD_KINDS: tuple[CardKind, ...] = ("pickup", "stored_value", "count")
VALUE_KINDS = value.VALUE_KINDS
"""Kinds that hold a balance: money in minor units, or uses left."""

PickupMode = Literal["store", "delivery"]
PICKUP_MODES: tuple[PickupMode, ...] = ("store", "delivery")
Credential = Literal["rotating_code", "card_code"]
CREDENTIALS: tuple[Credential, ...] = ("rotating_code", "card_code")
"""What the customer showed at a store's counter: the pickup page's code or the card's."""


@dataclass(frozen=True)
class Store:
    """A store of the chain; ``region`` lets a card be valid in a whole region."""

    id: str
    name: str
    region: str


@dataclass(frozen=True)
class Card:
    """What the rules need to know about a card. Empty allow-lists mean every store."""

    state: CardState
    expires_at: datetime | None = None
    allowed_stores: frozenset[str] = frozenset()
    allowed_regions: frozenset[str] = frozenset()
    blocked_from: CardState | None = None
    kind: CardKind = "pickup"
    balance: int | None = None
    """Stored value: minor units; count: uses left; None for pickup and inactive cards."""
    face_value: int | None = None
    units: int | None = None
    """The product's units: the uses a count card opens with."""

    def allowed_at(self, store: Store) -> bool:
        """Whether the card may be used at ``store``."""
        if not self.allowed_stores and not self.allowed_regions:
            return True
        return store.id in self.allowed_stores or store.region in self.allowed_regions

    @property
    def underlying_state(self) -> CardState:
        """The state a blocked card is held in; otherwise the state itself."""
        return (
            self.blocked_from
            if self.state is CardState.BLOCKED and self.blocked_from
            else self.state
        )

    def is_past_expiry(self, now: datetime) -> bool:
        """Whether the card's date has passed (the EXPIRED event may not exist yet)."""
        return self.expires_at is not None and self.expires_at <= now


# --- commands ------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A holder registers the card. ``holder`` is the keyed tag of the holder reference."""

    holder: str


@dataclass(frozen=True)
class Transfer:
    """The holder gives the card to someone else (``holder``: the new holder's tag)."""

    holder: str


@dataclass(frozen=True)
class RequestPickup:
    """The holder asks for the goods: collected at ``store`` or delivered (store None).

    ``day``: the day chosen (``YYYY-MM-DD``), if any; ``address_hash``: the salted hash
    of a delivery's address, which itself stays out of the log.
    """

    pickup_id: str
    mode: PickupMode
    store: Store | None = None
    day: str | None = None
    address_hash: str | None = None


@dataclass(frozen=True)
class CancelPickup:
    """The holder calls the pickup off; the card goes ``back_to`` its state before it."""

    pickup_id: str
    back_to: CardState


@dataclass(frozen=True)
class MovePickup:
    """The holder moves a store pickup to another ``store`` and/or ``day``."""

    pickup_id: str
    mode: PickupMode
    store: Store | None
    day: str | None = None


@dataclass(frozen=True)
class _PickupStep:
    pickup_id: str
    mode: PickupMode
    store: Store | None = None


@dataclass(frozen=True)
class PickupReady(_PickupStep):
    """The pickup store has the goods ready for collection."""


@dataclass(frozen=True)
class PickupReview(_PickupStep):
    """Headquarters checked a delivery request (address, goods) before shipping it."""


@dataclass(frozen=True)
class PickupShip(_PickupStep):
    """The goods of a delivery pickup left the warehouse with ``carrier``; the log keeps
    the salted hash of the tracking number."""

    carrier: str = ""
    tracking_hash: str = ""


@dataclass(frozen=True)
class PickupComplete(_PickupStep):
    """The goods were collected (with the customer's ``credential``) or delivered (none).

    ``serials``: the bottle serials (瓶码) scanned at the counter, already checked.
    """

    credential: Credential | None = None
    serials: tuple[str, ...] = ()


@dataclass(frozen=True)
class OfferGift:
    """The holder offers the card to someone by a share link, open until ``expires_at``."""

    offer_id: str
    expires_at: datetime


@dataclass(frozen=True)
class AcceptGift:
    """The recipient of an open gift takes the card (``holder``: their tag)."""

    offer_id: str
    holder: str
    expires_at: datetime


@dataclass(frozen=True)
class ReturnGift:
    """A gift nobody accepted in time goes ``back_to`` the giver's state."""

    offer_id: str
    back_to: CardState
    expires_at: datetime


@dataclass(frozen=True)
class WithdrawGift:
    """The giver takes back a gift still open: the card goes ``back_to`` their state."""

    offer_id: str
    back_to: CardState
    expires_at: datetime


@dataclass(frozen=True)
class Redeem:
    """The card is used at ``store`` (None: at headquarters, e.g. online).

    A pickup card is used up. A stored-value card pays ``amount`` (minor units) from its
    balance; a count card uses ``amount`` uses (default 1) and is used up at zero.
    """

    store: Store | None = None
    amount: int | None = None


@dataclass(frozen=True)
class Block:
    """Headquarters holds the card, e.g. reported stolen.

    The log keeps only the reason's code and the salted hash of its text (``reason_hash``,
    None without a text): free text stays out of the permanent public log.
    """

    reason_code: str = "unspecified"
    reason_hash: str | None = None


@dataclass(frozen=True)
class Unblock:
    """Headquarters releases a blocked card into the state it was blocked in.

    The log keeps only the reason's code and the salted hash of its text (``reason_hash``,
    None without a text): free text stays out of the permanent public log.
    """

    reason_code: str = "unspecified"
    reason_hash: str | None = None


@dataclass(frozen=True)
class Void:
    """Headquarters cancels the card for good.

    The log keeps only the reason's code and the salted hash of its text (``reason_hash``,
    None without a text): free text stays out of the permanent public log.
    """

    reason_code: str = "unspecified"
    reason_hash: str | None = None


@dataclass(frozen=True)
class Expire:
    """The expiry job closes a card whose date has passed."""


@dataclass(frozen=True)
class Activate:
    """The card is sold: ``channel`` and ``price`` (minor units) of the sale, at ``store``.

    A value card opens with its balance: the face value (stored value) or the units
    (count cards).
    """

    channel: str | None = None
    price: int | None = None
    store: Store | None = None


@dataclass(frozen=True)
class Load:
    """Money is added to a stored-value card (a top-up)."""

    amount: int
    store: Store | None = None


@dataclass(frozen=True)
class Refund:
    """Part or all of an earlier redemption goes back onto the card.

    ``refund_of``: that REDEEMED event's leaf index; ``refundable``: what it took less what
    was refunded of it already (the service reads both from the card's history).
    """

    amount: int
    refund_of: int
    refundable: int
    store: Store | None = None


@dataclass(frozen=True)
class Adjust:
    """Headquarters corrects a balance by a signed ``amount``, with a reason."""

    amount: int
    reason_code: str = "unspecified"
    reason_hash: str | None = None


@dataclass(frozen=True)
class SendBalance:
    """Part of a stored-value card's balance leaves for another card (``counterpart``)."""

    amount: int
    counterpart: str


@dataclass(frozen=True)
class ReceiveBalance:
    """A stored-value card receives balance sent by another card (``counterpart``)."""

    amount: int
    counterpart: str


ValueCommand = Load | Refund | Adjust | SendBalance | ReceiveBalance

Command = (
    Claim
    | Transfer
    | RequestPickup
    | CancelPickup
    | MovePickup
    | PickupReady
    | PickupReview
    | PickupShip
    | PickupComplete
    | OfferGift
    | AcceptGift
    | ReturnGift
    | WithdrawGift
    | Redeem
    | Block
    | Unblock
    | Void
    | Expire
    | Activate
    | Load
    | Refund
    | Adjust
    | SendBalance
    | ReceiveBalance
)


@dataclass(frozen=True)
class EventDraft:
    """What an accepted command does: the event to log and the card's new state."""

    type: EventType
    state: CardState
    occurred_at: datetime
    store_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    blocked_from: CardState | None = None


# --- the rules -----------------------------------------------------------------------


def decide(card: Card, command: Command, now: datetime) -> EventDraft:
    """The event ``command`` produces on ``card`` at ``now``, or raise a LedgerError."""
    _refuse_final(card.state)
    if card.state is CardState.INACTIVE and not isinstance(
        command, Activate | Block | Void | Expire
    ):
        raise errors.CardNotActive("card has not been sold yet: it is not activated")
    if card.state is CardState.BLOCKED and not isinstance(command, Unblock | Void | Expire):
        raise errors.CardBlocked("card is blocked")
    if isinstance(command, Redeem | RequestPickup) and card.state in PICKUP_IN_PROGRESS:
        raise errors.CardAlreadyUsed("a pickup was already requested for this card")
    if isinstance(command, _DATED) and card.is_past_expiry(now):
        raise errors.CardExpired("card's expiry date has passed")
    if isinstance(command, RequestPickup) and card.kind != "pickup":
        raise errors.WrongCardKind(f"a {card.kind} card has no goods to pick up")
    return _RULES[type(command)](card, command, now)


_DATED = (
    Claim,
    Transfer,
    RequestPickup,
    Redeem,
    OfferGift,
    Activate,
    Load,
    Refund,
    Adjust,
    SendBalance,
)
"""Commands refused once the card's date has passed (a receiver is checked too)."""


def _refuse_final(state: CardState) -> None:
    if state is CardState.REDEEMED:
        raise errors.CardAlreadyUsed("card was already redeemed")
    if state is CardState.PICKUP_COMPLETED:
        raise errors.CardAlreadyUsed("card's goods were already picked up")
    if state is CardState.VOIDED:
        raise errors.CardVoided("card was voided")
    if state is CardState.EXPIRED:
        raise errors.CardExpired("card has expired")


def _require(card: Card, allowed: frozenset[CardState], action: str) -> None:
    if card.state not in allowed:
        raise errors.InvalidTransition(f"cannot {action} a card in state {card.state}")


def _require_store(card: Card, store: Store) -> None:
    if not card.allowed_at(store):
        raise errors.StoreNotAllowed(f"card is not valid at store {store.id}")


def _claim(card: Card, command: Claim, now: datetime) -> EventDraft:
    _require(card, frozenset({CardState.ISSUED}), "claim")
    return EventDraft(EventType.CLAIMED, CardState.CLAIMED, now, data={"holder": command.holder})


def _transfer(card: Card, command: Transfer, now: datetime) -> EventDraft:
    _require(card, HELD, "transfer")
    return EventDraft(
        EventType.TRANSFERRED, CardState.TRANSFERRED, now, data={"holder": command.holder}
    )


def _request_pickup(card: Card, command: RequestPickup, now: datetime) -> EventDraft:
    # A bearer card needs no claim: its code is enough, as with any 提货卡.
    _require(card, UNUSED, "request a pickup for")
    if command.mode == "store":
        if command.store is None:
            raise errors.ValidationFailed("a store pickup needs a store")
        _require_store(card, command.store)
    return EventDraft(
        EventType.PICKUP_REQUESTED,
        CardState.PICKUP_REQUESTED,
        now,
        store_id=command.store.id if command.mode == "store" and command.store else None,
        data={
            "pickup_id": command.pickup_id,
            "mode": command.mode,
            "day": command.day,
            "address_hash": command.address_hash,
        },
    )


def _cancel_pickup(card: Card, command: CancelPickup, now: datetime) -> EventDraft:
    _require(card, CANCELLABLE, "cancel the pickup of")
    if command.back_to not in UNUSED:
        raise errors.InvalidTransition(f"a pickup cannot return a card to {command.back_to}")
    return EventDraft(
        EventType.PICKUP_CANCELLED, command.back_to, now, data={"pickup_id": command.pickup_id}
    )


def _move_pickup(card: Card, command: MovePickup, now: datetime) -> EventDraft:
    if command.mode != "store" or command.store is None:
        raise errors.InvalidTransition("only a store pickup moves, to another store or day")
    _require(card, frozenset({CardState.PICKUP_REQUESTED}), "move the pickup of")
    _require_store(card, command.store)
    return EventDraft(
        EventType.PICKUP_MOVED,
        CardState.PICKUP_REQUESTED,
        now,
        store_id=command.store.id,
        data={"pickup_id": command.pickup_id, "day": command.day},
    )


def _pickup_step(
    card: Card,
    command: _PickupStep,
    now: datetime,
    *,
    mode: PickupMode | None,
    after: frozenset[CardState],
    event: EventType,
    state: CardState,
    action: str,
) -> EventDraft:
    if mode is not None and command.mode != mode:
        raise errors.InvalidTransition(f"cannot {action} a {command.mode} pickup")
    _require(card, after, action)
    return EventDraft(
        event,
        state,
        now,
        store_id=command.store.id if command.store else None,
        data={"pickup_id": command.pickup_id},
    )


def _pickup_ready(card: Card, command: PickupReady, now: datetime) -> EventDraft:
    return _pickup_step(
        card,
        command,
        now,
        mode="store",
        after=frozenset({CardState.PICKUP_REQUESTED}),
        event=EventType.PICKUP_READY,
        state=CardState.PICKUP_READY,
        action="mark ready",
    )


def _pickup_review(card: Card, command: PickupReview, now: datetime) -> EventDraft:
    return _pickup_step(
        card,
        command,
        now,
        mode="delivery",
        after=frozenset({CardState.PICKUP_REQUESTED}),
        event=EventType.PICKUP_REVIEWED,
        state=CardState.PICKUP_REVIEWED,
        action="review",
    )


def _pickup_ship(card: Card, command: PickupShip, now: datetime) -> EventDraft:
    draft = _pickup_step(
        card,
        command,
        now,
        mode="delivery",
        after=frozenset({CardState.PICKUP_REVIEWED}),
        event=EventType.PICKUP_SHIPPED,
        state=CardState.PICKUP_SHIPPED,
        action="ship",
    )
    draft.data.update(carrier=command.carrier, tracking_hash=command.tracking_hash)
    return draft


def _pickup_complete(card: Card, command: PickupComplete, now: datetime) -> EventDraft:
    after = CardState.PICKUP_READY if command.mode == "store" else CardState.PICKUP_SHIPPED
    draft = _pickup_step(
        card,
        command,
        now,
        mode=None,
        after=frozenset({after}),
        event=EventType.PICKUP_COMPLETED,
        state=CardState.PICKUP_COMPLETED,
        action="complete",
    )
    # Goods leave a store's counter only against the customer's proof; a delivery's
    # proof is the carrier's signed receipt, outside the log.
    if command.mode == "store" and command.credential not in CREDENTIALS:
        raise errors.ValidationFailed("a store pickup is completed with the customer's code")
    if command.mode == "delivery" and command.credential is not None:
        raise errors.ValidationFailed("a delivery is completed without a counter credential")
    draft.data.update(credential=command.credential, serials=list(command.serials))
    return draft


def _offer_gift(card: Card, command: OfferGift, now: datetime) -> EventDraft:
    _require(card, UNUSED, "gift")
    if command.expires_at <= now:
        raise errors.ValidationFailed("a gift offer must end in the future")
    return EventDraft(
        EventType.GIFT_OFFERED,
        CardState.GIFT_OFFERED,
        now,
        data={"offer_id": command.offer_id, "expires_at": format_timestamp(command.expires_at)},
    )


def _accept_gift(card: Card, command: AcceptGift, now: datetime) -> EventDraft:
    _require(card, frozenset({CardState.GIFT_OFFERED}), "accept a gift of")
    if command.expires_at <= now:
        raise errors.GiftOfferExpired("this gift was not accepted in time")
    return EventDraft(
        EventType.GIFT_ACCEPTED,
        CardState.TRANSFERRED,
        now,
        data={"offer_id": command.offer_id, "holder": command.holder},
    )


def _return_gift(card: Card, command: ReturnGift, now: datetime) -> EventDraft:
    _require(card, frozenset({CardState.GIFT_OFFERED}), "return a gift of")
    if command.back_to not in UNUSED:
        raise errors.InvalidTransition(f"a gift cannot return a card to {command.back_to}")
    if command.expires_at > now:
        raise errors.InvalidTransition("the gift offer is still open")
    # Dated when the offer ran out, whenever it is noticed (as an expiry is).
    return EventDraft(
        EventType.GIFT_RETURNED,
        command.back_to,
        command.expires_at,
        data={"offer_id": command.offer_id},
    )


def _withdraw_gift(card: Card, command: WithdrawGift, now: datetime) -> EventDraft:
    _require(card, frozenset({CardState.GIFT_OFFERED}), "withdraw a gift of")
    if command.back_to not in UNUSED:
        raise errors.InvalidTransition(f"a gift cannot return a card to {command.back_to}")
    # Past its end the offer has lapsed already (GIFT_RETURNED), noticed or not.
    if command.expires_at <= now:
        raise errors.GiftOfferExpired("the gift offer had already ended")
    return EventDraft(
        EventType.GIFT_WITHDRAWN, command.back_to, now, data={"offer_id": command.offer_id}
    )


def _redeem(card: Card, command: Redeem, now: datetime) -> EventDraft:
    _require(card, UNUSED, "redeem")
    if command.store is not None:
        _require_store(card, command.store)
    if card.kind in VALUE_KINDS:
        amount = command.amount
        if amount is None and card.kind == "count":
            amount = 1
        if amount is None:
            raise errors.ValidationFailed("a stored-value redemption needs an amount")
        return _value_draft(
            card, EventType.REDEEMED, -value.positive(amount), now, store=command.store
        )
    if command.amount is not None:
        raise errors.WrongCardKind("a pickup card is used whole: it takes no amount")
    return EventDraft(
        EventType.REDEEMED,
        CardState.REDEEMED,
        now,
        store_id=command.store.id if command.store else None,
    )


def _reason_data(command: Block | Unblock | Void) -> dict[str, Any]:
    return {"reason_code": command.reason_code, "reason_hash": command.reason_hash}


def _block(card: Card, command: Block, now: datetime) -> EventDraft:
    return EventDraft(
        EventType.BLOCKED,
        CardState.BLOCKED,
        now,
        data=_reason_data(command),
        blocked_from=card.state,
    )


def _unblock(card: Card, command: Unblock, now: datetime) -> EventDraft:
    if card.state is not CardState.BLOCKED or card.blocked_from is None:
        raise errors.InvalidTransition(f"cannot unblock a card in state {card.state}")
    return EventDraft(EventType.UNBLOCKED, card.blocked_from, now, data=_reason_data(command))


def _void(card: Card, command: Void, now: datetime) -> EventDraft:
    if card.underlying_state is CardState.PICKUP_SHIPPED:
        raise errors.InvalidTransition("cannot void a card whose goods were already shipped")
    return EventDraft(EventType.VOIDED, CardState.VOIDED, now, data=_reason_data(command))


def _expire(card: Card, command: Expire, now: datetime) -> EventDraft:
    if card.underlying_state not in EXPIRABLE:
        raise errors.InvalidTransition(
            f"cannot expire a card in state {card.underlying_state}: a pickup is under way"
        )
    if card.expires_at is None or not card.is_past_expiry(now):
        raise errors.InvalidTransition("card's expiry date has not passed")
    # The event happened when the date passed, whenever the job gets round to it.
    return EventDraft(EventType.EXPIRED, CardState.EXPIRED, card.expires_at)


def _activate(card: Card, command: Activate, now: datetime) -> EventDraft:
    _require(card, frozenset({CardState.INACTIVE}), "activate")
    if command.store is not None:
        _require_store(card, command.store)
    opening = value.opening_balance(card.kind, card.face_value, card.units)
    return EventDraft(
        EventType.ACTIVATED,
        CardState.ISSUED,
        now,
        store_id=command.store.id if command.store else None,
        data={"channel": command.channel, "price": command.price, "balance": opening},
    )


def _value_draft(
    card: Card,
    event: EventType,
    delta: int,
    now: datetime,
    *,
    store: Store | None = None,
    data: dict[str, Any] | None = None,
) -> EventDraft:
    """The event moving a value card's balance by ``delta``: refused below zero; a count
    card at zero uses is used up (a stored-value card at zero can be loaded again)."""
    balance = value.apply_delta(card.balance, delta)
    state = card.state
    if card.kind == "count" and balance == 0:
        state = CardState.REDEEMED
    return EventDraft(
        event,
        state,
        now,
        store_id=store.id if store else None,
        data={"amount": value.amount_of(event, delta), "balance": balance, **(data or {})},
    )


def _require_value(card: Card, kinds: frozenset[str], action: str) -> None:
    _require(card, UNUSED, action)
    if card.kind not in kinds:
        raise errors.WrongCardKind(f"cannot {action} a {card.kind} card")


_STORED_VALUE = frozenset({"stored_value"})


def _load(card: Card, command: Load, now: datetime) -> EventDraft:
    _require_value(card, _STORED_VALUE, "load")
    return _value_draft(
        card, EventType.LOADED, value.positive(command.amount), now, store=command.store
    )


def _refund(card: Card, command: Refund, now: datetime) -> EventDraft:
    _require_value(card, VALUE_KINDS, "refund")
    amount = value.positive(command.amount)
    if amount > command.refundable:
        raise errors.RefundTooLarge(
            f"at most {command.refundable} of that redemption can still be refunded"
        )
    return _value_draft(
        card,
        EventType.REFUNDED,
        amount,
        now,
        store=command.store,
        data={"refund_of": command.refund_of},
    )


def _adjust(card: Card, command: Adjust, now: datetime) -> EventDraft:
    _require_value(card, VALUE_KINDS, "adjust")
    if command.amount == 0:
        raise errors.ValidationFailed("an adjustment must change the balance")
    return _value_draft(
        card,
        EventType.ADJUSTED,
        command.amount,
        now,
        data={"reason_code": command.reason_code, "reason_hash": command.reason_hash},
    )


def _send_balance(card: Card, command: SendBalance, now: datetime) -> EventDraft:
    _require_value(card, _STORED_VALUE, "send balance from")
    return _value_draft(
        card,
        EventType.BALANCE_SENT,
        -value.positive(command.amount),
        now,
        data={"counterpart": command.counterpart},
    )


def _receive_balance(card: Card, command: ReceiveBalance, now: datetime) -> EventDraft:
    _require_value(card, _STORED_VALUE, "send balance to")
    if card.is_past_expiry(now):
        raise errors.CardExpired("the receiving card's expiry date has passed")
    return _value_draft(
        card,
        EventType.BALANCE_RECEIVED,
        value.positive(command.amount),
        now,
        data={"counterpart": command.counterpart},
    )


_RULES: dict[type, Callable[[Card, Any, datetime], EventDraft]] = {
    Claim: _claim,
    Transfer: _transfer,
    RequestPickup: _request_pickup,
    CancelPickup: _cancel_pickup,
    MovePickup: _move_pickup,
    PickupReady: _pickup_ready,
    PickupReview: _pickup_review,
    PickupShip: _pickup_ship,
    PickupComplete: _pickup_complete,
    OfferGift: _offer_gift,
    AcceptGift: _accept_gift,
    ReturnGift: _return_gift,
    WithdrawGift: _withdraw_gift,
    Redeem: _redeem,
    Block: _block,
    Unblock: _unblock,
    Void: _void,
    Expire: _expire,
    Activate: _activate,
    Load: _load,
    Refund: _refund,
    Adjust: _adjust,
    SendBalance: _send_balance,
    ReceiveBalance: _receive_balance,
}
