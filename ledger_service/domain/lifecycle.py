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
store) or PICKUP_SHIPPED (delivered) → PICKUP_COMPLETED; or REDEEMED at a store (from
ISSUED, CLAIMED or TRANSFERRED). BLOCKED holds a card in its state until UNBLOCKED.
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


class CardState(StrEnum):
    """Where a card is in its life."""

    ISSUED = "ISSUED"
    CLAIMED = "CLAIMED"
    TRANSFERRED = "TRANSFERRED"
    PICKUP_REQUESTED = "PICKUP_REQUESTED"
    PICKUP_READY = "PICKUP_READY"
    PICKUP_SHIPPED = "PICKUP_SHIPPED"
    PICKUP_COMPLETED = "PICKUP_COMPLETED"
    REDEEMED = "REDEEMED"
    BLOCKED = "BLOCKED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


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


USED = frozenset({CardState.PICKUP_COMPLETED, CardState.REDEEMED})
PICKUP_IN_PROGRESS = frozenset(
    {CardState.PICKUP_REQUESTED, CardState.PICKUP_READY, CardState.PICKUP_SHIPPED}
)
UNUSED = frozenset({CardState.ISSUED, CardState.CLAIMED, CardState.TRANSFERRED})
HELD = frozenset({CardState.CLAIMED, CardState.TRANSFERRED})
"""States with a known holder: only these may be transferred or picked up."""

PickupMode = Literal["store", "delivery"]
PICKUP_MODES: tuple[PickupMode, ...] = ("store", "delivery")


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
    """The holder asks for the goods: collected at ``store`` or delivered (store None)."""

    pickup_id: str
    mode: PickupMode
    store: Store | None = None


@dataclass(frozen=True)
class _PickupStep:
    pickup_id: str
    mode: PickupMode
    store: Store | None = None


@dataclass(frozen=True)
class PickupReady(_PickupStep):
    """The pickup store has the goods ready for collection."""


@dataclass(frozen=True)
class PickupShip(_PickupStep):
    """The goods of a delivery pickup left the warehouse."""


@dataclass(frozen=True)
class PickupComplete(_PickupStep):
    """The goods were collected or delivered."""


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
    | PickupReady
    | PickupShip
    | PickupComplete
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
    if isinstance(command, Claim | Transfer | RequestPickup | Redeem) and card.is_past_expiry(now):
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
    _require(card, HELD, "request a pickup for")
    if command.mode == "store":
        if command.store is None:
            raise errors.ValidationFailed("a store pickup needs a store")
        _require_store(card, command.store)
    return EventDraft(
        EventType.PICKUP_REQUESTED,
        CardState.PICKUP_REQUESTED,
        now,
        store_id=command.store.id if command.mode == "store" and command.store else None,
        data={"pickup_id": command.pickup_id, "mode": command.mode},
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


def _pickup_ship(card: Card, command: PickupShip, now: datetime) -> EventDraft:
    return _pickup_step(
        card,
        command,
        now,
        mode="delivery",
        after=frozenset({CardState.PICKUP_REQUESTED}),
        event=EventType.PICKUP_SHIPPED,
        state=CardState.PICKUP_SHIPPED,
        action="ship",
    )


def _pickup_complete(card: Card, command: PickupComplete, now: datetime) -> EventDraft:
    after = CardState.PICKUP_READY if command.mode == "store" else CardState.PICKUP_SHIPPED
    return _pickup_step(
        card,
        command,
        now,
        mode=None,
        after=frozenset({after}),
        event=EventType.PICKUP_COMPLETED,
        state=CardState.PICKUP_COMPLETED,
        action="complete",
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
    PickupReady: _pickup_ready,
    PickupShip: _pickup_ship,
    PickupComplete: _pickup_complete,
    Redeem: _redeem,
    Block: _block,
    Unblock: _unblock,
    Void: _void,
    Expire: _expire,
}
