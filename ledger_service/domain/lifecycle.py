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
recipient accepts it (GIFT_ACCEPTED: TRANSFERRED) or it times out (GIFT_RETURNED: back).
BLOCKED holds a card in its state until UNBLOCKED.
PICKUP_COMPLETED, REDEEMED, VOIDED and EXPIRED are final. Only unused cards expire: a
pickup under way is honoured even when the card's date passes meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from ledger_service import errors
from ledger_service.events import format_timestamp


class CardState(StrEnum):
    """Where a card is in its life."""

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
    PICKUP_CANCELLED = "PICKUP_CANCELLED"
    PICKUP_MOVED = "PICKUP_MOVED"
    PICKUP_REVIEWED = "PICKUP_REVIEWED"
    GIFT_OFFERED = "GIFT_OFFERED"
    GIFT_ACCEPTED = "GIFT_ACCEPTED"
    GIFT_RETURNED = "GIFT_RETURNED"


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
class Redeem:
    """The card is used up at ``store`` (None: at headquarters, e.g. online)."""

    store: Store | None = None


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
    | Redeem
    | Block
    | Unblock
    | Void
    | Expire
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
    if card.state is CardState.BLOCKED and not isinstance(command, Unblock | Void | Expire):
        raise errors.CardBlocked("card is blocked")
    if isinstance(command, Redeem | RequestPickup) and card.state in PICKUP_IN_PROGRESS:
        raise errors.CardAlreadyUsed("a pickup was already requested for this card")
    if isinstance(command, Claim | Transfer | RequestPickup | Redeem | OfferGift) and (
        card.is_past_expiry(now)
    ):
        raise errors.CardExpired("card's expiry date has passed")
    return _RULES[type(command)](card, command, now)


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


def _redeem(card: Card, command: Redeem, now: datetime) -> EventDraft:
    _require(card, UNUSED, "redeem")
    if command.store is not None:
        _require_store(card, command.store)
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
    if card.underlying_state not in UNUSED:
        raise errors.InvalidTransition(
            f"cannot expire a card in state {card.underlying_state}: a pickup is under way"
        )
    if card.expires_at is None or not card.is_past_expiry(now):
        raise errors.InvalidTransition("card's expiry date has not passed")
    # The event happened when the date passed, whenever the job gets round to it.
    return EventDraft(EventType.EXPIRED, CardState.EXPIRED, card.expires_at)


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
    Redeem: _redeem,
    Block: _block,
    Unblock: _unblock,
    Void: _void,
    Expire: _expire,
}
