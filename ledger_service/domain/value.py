"""The balance arithmetic of stored-value and count cards, as small pure functions.

A value card's events carry the amount moved and the balance after it, so that the
card's hash chain proves its balance history. Every verifier checks the same rule:
``balance(previous) + delta == balance``, never below zero, where the delta is
``+amount`` for LOADED, REFUNDED and BALANCE_RECEIVED, ``-amount`` for REDEEMED and
BALANCE_SENT, the signed ``amount`` of ADJUSTED; ACTIVATED (or an ISSUED event of a card
sold at once) sets the opening balance.

    >>> apply_delta(5000, -1200)
    3800
    >>> apply_delta(500, -1200)
    Traceback (most recent call last):
    ...
    ledger_service.errors.InsufficientBalance: the balance is 500, 1200 was asked for
    >>> event_columns("REDEEMED", {"amount": 1200, "balance": 3800})
    (-1200, 3800)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger_service import errors
from ledger_service.events import MAX_SAFE_INTEGER

CREDITS = frozenset({"LOADED", "REFUNDED", "BALANCE_RECEIVED"})
"""Events whose ``amount`` adds to the balance."""
DEBITS = frozenset({"REDEEMED", "BALANCE_SENT"})
"""Events whose ``amount`` is taken from the balance."""
VALUE_KINDS = frozenset({"stored_value", "count"})


def positive(amount: object) -> int:
    """``amount`` as a whole number of minor units (or uses) above zero.

    >>> positive(3)
    3
    >>> positive(0)
    Traceback (most recent call last):
    ...
    ledger_service.errors.ValidationFailed: amount must be a whole number above 0, got 0
    """
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int)
        or not 0 < amount <= MAX_SAFE_INTEGER
    ):
        raise errors.ValidationFailed(f"amount must be a whole number above 0, got {amount!r}")
    return amount


def opening_balance(kind: str, face_value: int | None, units: int | None) -> int | None:
    """The balance a card opens with when sold: its face value (stored value), its
    units (count cards), none for pickup cards.

    >>> opening_balance("stored_value", 10000, 1), opening_balance("count", None, 10)
    (10000, 10)
    >>> opening_balance("pickup", 150000, 1) is None
    True
    """
    if kind == "stored_value":
        return face_value or 0
    if kind == "count":
        return units or 0
    return None


def apply_delta(balance: int | None, delta: int) -> int:
    """The balance after moving ``balance`` by ``delta``; INSUFFICIENT_BALANCE below 0."""
    before = balance or 0
    after = before + delta
    if after < 0:
        raise errors.InsufficientBalance(f"the balance is {before}, {-delta} was asked for")
    if after > MAX_SAFE_INTEGER:
        raise errors.ValidationFailed("the balance would exceed what an event can carry")
    return after


def amount_of(event_type: str, delta: int) -> int:
    """The ``amount`` an event carries for a balance change of ``delta``: signed for
    ADJUSTED, the size of the change otherwise.

    >>> amount_of("REDEEMED", -300), amount_of("ADJUSTED", -300)
    (300, -300)
    """
    return delta if event_type == "ADJUSTED" else abs(delta)


def delta_of(event_type: str, data: Mapping[str, Any]) -> int | None:
    """The signed change of the balance an event records, or None if it moves none.

    >>> delta_of("LOADED", {"amount": 500, "balance": 900})
    500
    >>> delta_of("ACTIVATED", {"channel": None, "price": 9000, "balance": 10000})
    10000
    >>> delta_of("REDEEMED", {}) is None
    True
    """
    if event_type in ("ACTIVATED", "ISSUED"):
        opening = _opening_of(event_type, data)
        return opening
    amount = data.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        return None
    if event_type in CREDITS or event_type == "ADJUSTED":
        return amount
    if event_type in DEBITS:
        return -amount
    return None


def _opening_of(event_type: str, data: Mapping[str, Any]) -> int | None:
    if event_type == "ACTIVATED":
        balance = data.get("balance")
        return balance if isinstance(balance, int) else None
    # An ISSUED event of a value card sold at once opens its balance there.
    if data.get("active") is True and data.get("kind") in VALUE_KINDS:
        return opening_balance(str(data["kind"]), data.get("face_value"), data.get("units"))
    return None


def event_columns(event_type: str, data: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``events.amount`` (the signed delta) and ``events.balance`` (the balance after)
    of an event, both None for events that move no value.

    >>> event_columns("ISSUED", {"kind": "count", "units": 10, "active": True})
    (10, 10)
    >>> event_columns("ADJUSTED", {"amount": -200, "balance": 800})
    (-200, 800)
    """
    delta = delta_of(event_type, data)
    if delta is None:
        return None, None
    if event_type in ("ACTIVATED", "ISSUED"):
        return delta, delta
    balance = data.get("balance")
    return delta, balance if isinstance(balance, int) else None


def refundable(events: Iterable[Mapping[str, Any]], redemption: int) -> int:
    """What may still be refunded of the REDEEMED event at leaf ``redemption`` among a
    card's ``events`` (the log's event objects): its amount less its earlier refunds.

    >>> history = [
    ...     {"leaf_index": 4, "type": "REDEEMED", "data": {"amount": 700, "balance": 300}},
    ...     {"leaf_index": 9, "type": "REFUNDED",
    ...      "data": {"amount": 200, "balance": 500, "refund_of": 4}},
    ... ]
    >>> refundable(history, 4)
    500
    >>> refundable(history, 9)
    Traceback (most recent call last):
    ...
    ledger_service.errors.RefundTooLarge: leaf 9 is not a redemption of this card: nothing to refund
    """
    taken: int | None = None
    returned = 0
    for event in events:
        data = event.get("data") or {}
        if event.get("leaf_index") == redemption and event.get("type") == "REDEEMED":
            amount = data.get("amount")
            taken = amount if isinstance(amount, int) else None
        elif event.get("type") == "REFUNDED" and data.get("refund_of") == redemption:
            returned += int(data.get("amount") or 0)
    if taken is None:
        raise errors.RefundTooLarge(
            f"leaf {redemption} is not a redemption of this card: nothing to refund"
        )
    return taken - returned


def balance_history(events: Iterable[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """``(leaf_index, balance after)`` for each event of a card that moved its balance.

    >>> balance_history([
    ...     {"leaf_index": 1, "type": "ACTIVATED", "data": {"balance": 1000}},
    ...     {"leaf_index": 2, "type": "CLAIMED", "data": {"holder": "h"}},
    ...     {"leaf_index": 3, "type": "REDEEMED", "data": {"amount": 250, "balance": 750}},
    ... ])
    [(1, 1000), (3, 750)]
    """
    out = []
    for event in events:
        _, balance = event_columns(str(event.get("type")), event.get("data") or {})
        if balance is not None:
            out.append((int(event["leaf_index"]), balance))
    return out
