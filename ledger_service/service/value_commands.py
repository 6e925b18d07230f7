"""The commands of stored-value and count cards beyond a redemption: load (top up),
refund an earlier redemption, adjust (headquarters, with a reason) and transfer balance
between two cards.

Each runs like every card command (:mod:`.transaction`): under the log head, the card's
row read under it, :func:`ledger_service.domain.lifecycle.decide` accepting or refusing,
then the event logged and the card's ``balance`` moved in the same transaction, so the
balance column never disagrees with the log and never goes below zero.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.lifecycle import (
    Adjust,
    Load,
    ReceiveBalance,
    Refund,
    SendBalance,
    decide,
)
from ledger_service.domain.value import refundable
from ledger_service.events import card_commitment
from ledger_service.service.card_commands import value_answer
from ledger_service.service.checks import WRITERS, card_number, check_reason, require_role, valid
from ledger_service.service.events_log import apply
from ledger_service.service.reads import read_card_history
from ledger_service.service.reasons import new_reason, store_reason
from ledger_service.service.rows import (
    balance_values,
    card_of,
    card_or_404,
    store_or_404,
)
from ledger_service.service.traces import Trace
from ledger_service.service.transaction import CommandRunner, head

COUNTER = ("hq", "store")
"""Roles that may top up and refund at a counter (a store token at its own store)."""


class ValueCommands(CommandRunner):
    """Load, refund, adjust and transfer balance."""

    def load(
        self,
        actor: Actor,
        number: str,
        amount: int,
        *,
        store_id: str | None = None,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Top up a stored-value card by ``amount`` minor units (LOADED)."""
        require_role(actor, COUNTER)
        number = card_number(number)
        at = _counter_store(actor, store_id)
        now = self._now()
        with self._command(number, within) as (conn, log, size, row):
            store = store_or_404(conn, at) if at else None
            draft = decide(card_of(row), Load(amount, store), now)
            leaf_index = apply(conn, log, size, row, draft, actor, now, **balance_values(draft))
        return _answer(number, draft, leaf_index)

    def refund(
        self,
        actor: Actor,
        number: str,
        refund_of: int,
        amount: int,
        *,
        store_id: str | None = None,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Put back ``amount`` of the redemption logged at leaf ``refund_of`` (REFUNDED):
        at most what it took less what was refunded of it already (REFUND_TOO_LARGE)."""
        require_role(actor, COUNTER)
        number = card_number(number)
        if isinstance(refund_of, bool) or not isinstance(refund_of, int) or refund_of < 0:
            raise errors.ValidationFailed("refund_of must be the leaf index of a redemption")
        at = _counter_store(actor, store_id)
        now = self._now()
        with self._command(number, within) as (conn, log, size, row):
            store = store_or_404(conn, at) if at else None
            history = [e.event for e in read_card_history(conn, number).events]
            left = refundable(history, refund_of)
            draft = decide(card_of(row), Refund(amount, refund_of, left, store), now)
            leaf_index = apply(conn, log, size, row, draft, actor, now, **balance_values(draft))
        return _answer(number, draft, leaf_index)

    def adjust(
        self,
        actor: Actor,
        number: str,
        amount: int,
        reason: str = "",
        *,
        reason_code: str = "unspecified",
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Headquarters corrects a value card's balance by the signed ``amount``
        (ADJUSTED). The log keeps ``reason_code`` and the salted hash of ``reason``; the
        text stays in the database, as for block and void."""
        require_role(actor, WRITERS)
        number = card_number(number)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise errors.ValidationFailed("amount must be a whole number")
        why = new_reason(check_reason(reason), reason_code)
        now = self._now()
        with self._command(number, within) as (conn, log, size, row):
            command = Adjust(amount, reason_code=why.code, reason_hash=why.hash)
            draft = decide(card_of(row), command, now)
            leaf_index = apply(conn, log, size, row, draft, actor, now, **balance_values(draft))
            store_reason(conn, leaf_index, why)
        return _answer(number, draft, leaf_index)

    def transfer_balance(
        self,
        actor: Actor,
        from_number: str,
        redemption_code: str,
        to_number: str,
        amount: int,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Move ``amount`` from one stored-value card (its code proves the holder) to
        another of the same currency: BALANCE_SENT on the first, BALANCE_RECEIVED on the
        second, each naming the other's commitment, in one transaction."""
        require_role(actor, WRITERS)
        sender_number, receiver_number = card_number(from_number), card_number(to_number)
        if sender_number == receiver_number:
            raise errors.InvalidTransition("a card cannot send balance to itself")
        now = self._now()
        trace = Trace(actor, "transfer_balance", now, sender_number)
        with self._run(within, trace) as conn:
            log, size = head(conn)
            sender = card_or_404(conn, sender_number)
            receiver = card_or_404(conn, receiver_number)
            if sender.currency != receiver.currency:
                raise errors.WrongCardKind("balance moves only between cards of one currency")
            sent = decide(
                card_of(sender),
                SendBalance(amount, card_commitment(bytes(receiver.salt), receiver_number)),
                now,
            )
            received = decide(
                card_of(receiver),
                ReceiveBalance(amount, card_commitment(bytes(sender.salt), sender_number)),
                now,
            )
            sent_leaf = self._apply_with_code(
                conn, log, size, sender, redemption_code, sent, actor, now, **balance_values(sent)
            )
            received_leaf = apply(
                conn, log, size + 1, receiver, received, actor, now, **balance_values(received)
            )
        return {
            "sender": _answer(sender_number, sent, sent_leaf),
            "receiver": _answer(receiver_number, received, received_leaf),
        }


def _answer(number: str, draft: Any, leaf_index: int) -> dict[str, Any]:
    return {
        "card_number": number,
        "state": draft.state.value,
        "leaf_index": leaf_index,
        **value_answer(draft),
    }


def _counter_store(actor: Actor, store_id: str | None) -> str | None:
    """Where a top-up or refund happens: a store token's own store; headquarters' choice."""
    if actor.role == "store":
        if store_id is not None and store_id != actor.store_id:
            raise errors.StoreNotAllowed(f"this token acts only for store {actor.store_id}")
        return actor.store_id
    return None if store_id is None else str(valid(check_store_id, store_id))
