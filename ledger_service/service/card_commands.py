"""Commands on one card: claim, transfer, redeem, block, unblock, void, and the code unlock.

Each takes the log head, reads the card, lets :func:`ledger_service.domain.lifecycle.decide`
accept or refuse, then moves the card on and logs its one event — through the transaction
runner (:mod:`ledger_service.service.transaction`), joined to the caller's unit of work
when given ``within``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain import codes, lockout
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import (
    Block,
    Claim,
    Command,
    EventDraft,
    Redeem,
    Store,
    Transfer,
    Unblock,
    Void,
    decide,
)
from ledger_service.schema import cards, stores
from ledger_service.service.checks import WRITERS, card_number, check_reason, require_role, valid
from ledger_service.service.events_log import apply
from ledger_service.service.reasons import Reason, new_reason, store_reason
from ledger_service.service.rows import (
    balance_values,
    card_of,
    card_or_404,
    lock_values,
)
from ledger_service.service.signed_commands import SignatureInput, check_signature, signature_of
from ledger_service.service.traces import (
    BURST_WINDOW,
    Trace,
    check_code,
    note_burst,
    recent_redemptions,
)
from ledger_service.service.transaction import CommandRunner, code_accepted, head, writing


class CardCommands(CommandRunner):
    """The lifecycle commands of a single card."""

    def claim(
        self, actor: Actor, number: str, holder_ref: str, *, within: Connection | None = None
    ) -> dict[str, Any]:
        """Register the card's holder (ISSUED → CLAIMED)."""
        require_role(actor, WRITERS)
        number = card_number(number)
        holder = valid(check_text, holder_ref, "holder_ref")
        return self._decided(
            actor,
            number,
            lambda row: Claim(self._holder_tag(holder, bytes(row.salt))),
            within,
            holder_ref=holder,
        )

    def transfer(
        self,
        actor: Actor,
        number: str,
        redemption_code: str,
        to_holder_ref: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Give the card to a new holder. The old code stops working; the answer carries
        the new holder's code, shown this once."""
        require_role(actor, WRITERS)
        number = card_number(number)
        holder = valid(check_text, to_holder_ref, "to_holder_ref")
        new_code = codes.generate_code()
        new_holder = {"holder_ref": holder, "code_hash": codes.code_hash(self._secret, new_code)}
        now = self._now()
        trace = Trace(actor, "transfer", now, number)
        with self._command(number, within, trace) as (conn, log, size, row):
            draft = decide(card_of(row), Transfer(self._holder_tag(holder, bytes(row.salt))), now)
            leaf_index = self._apply_with_code(
                conn, log, size, row, redemption_code, draft, actor, now, **new_holder
            )
        return {
            "card_number": number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
            "redemption_code": new_code,
        }

    def redeem(
        self,
        actor: Actor,
        number: str,
        redemption_code: str,
        store_id: str | None = None,
        signature: SignatureInput = None,
        *,
        amount: int | None = None,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Use the card at a store. A store token redeems at its own store; headquarters
        names the store, or none for a redemption outside any store. ``signature``: a
        store device's over the command (see :mod:`ledger_service.devices`). ``within``:
        a :meth:`unit_of_work` to write in instead of one of its own.

        A pickup card is used up (no ``amount``); a stored-value card pays ``amount``
        (minor units) from its balance, a count card ``amount`` uses (default 1):
        INSUFFICIENT_BALANCE when the balance is lower. The answer then carries the
        ``amount`` and the ``balance`` after. A signed redemption's device signed this
        ``amount`` (a count card's single use too; 0 for a pickup card), else
        SIGNATURE_INVALID."""
        require_role(actor, ("hq", "store"))
        number = card_number(number)
        now = self._now()
        signing_store = actor.store_id if actor.role == "store" else store_id
        signed = check_signature(
            self._engine,
            signature,
            actor,
            number,
            "redeem",
            signing_store,
            "",
            now,
            required=self._require_signatures,
            amount=amount,
        )
        trace = Trace(
            actor, "redeem", now, number, store_id or actor.store_id, signature_of(signed)
        )
        # Every refusal comes before the first write (_run's checks_first).
        with self._run(within, trace, checks_first=True) as conn:
            at = _acting_store(actor, store_id)
            log, size = head(conn)
            row = _card_at(conn, number, at, now)
            if signed is not None:
                signed.check_signer(conn)
            store = _store_of(row, at) if at else None
            draft = decide(card_of(row), Redeem(store, amount), now)
            draft = signed.draft(draft) if signed else draft
            check_code(self._secret, row, redemption_code, now)
            with writing():
                leaf_index = apply(
                    conn,
                    log,
                    size,
                    row,
                    draft,
                    actor,
                    now,
                    **code_accepted(row),
                    **balance_values(draft),
                )
                if signed is not None:
                    signed.record(conn, now, leaf_index, draft.state.value)
                if at:
                    note_burst(conn, actor, at, now, row.store_recent, draft)
        return {
            "card_number": number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
            **value_answer(draft),
        }

    def block(
        self,
        actor: Actor,
        number: str,
        reason: str = "",
        *,
        reason_code: str = "unspecified",
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Hold the card (e.g. reported stolen) until it is unblocked.

        The log gets ``reason_code`` and the salted hash of ``reason``; the text itself
        stays in the database (:mod:`ledger_service.service.reasons`), as for unblock and
        void.
        """
        return self._reasoned(actor, number, Block, reason, reason_code, within)

    def unblock(
        self,
        actor: Actor,
        number: str,
        reason: str = "",
        *,
        reason_code: str = "unspecified",
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Release a blocked card into the state it was blocked in."""
        return self._reasoned(actor, number, Unblock, reason, reason_code, within)

    def void(
        self,
        actor: Actor,
        number: str,
        reason: str = "",
        *,
        reason_code: str = "unspecified",
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Cancel the card for good."""
        return self._reasoned(actor, number, Void, reason, reason_code, within)

    def _reasoned(
        self,
        actor: Actor,
        number: str,
        kind: type[Block | Unblock | Void],
        text: str,
        code: str,
        within: Connection | None,
    ) -> dict[str, Any]:
        require_role(actor, WRITERS)
        reason = new_reason(check_reason(text), code)
        return self._decided(
            actor,
            card_number(number),
            lambda _row: kind(reason_code=reason.code, reason_hash=reason.hash),
            within,
            reason=reason,
        )

    def unlock_code(
        self, actor: Actor, number: str, *, within: Connection | None = None
    ) -> dict[str, Any]:
        """Headquarters lifts a wrong-code lock and forgets the card's earlier locks."""
        require_role(actor, WRITERS)
        number = card_number(number)
        now = self._now()
        with self._run(within) as conn:
            # Not an event, so no head lock: the row lock orders it with wrong-code counts.
            card_or_404(conn, number, lock=True)
            conn.execute(
                sa.update(cards)
                .where(cards.c.number == number)
                .values(**lock_values(lockout.LockState()), updated_at=now)
            )
        return {"card_number": number, "code_locked_until": None}

    def _decided(
        self,
        actor: Actor,
        number: str,
        command_for: Callable[[Row[Any]], Command],
        within: Connection | None,
        reason: Reason | None = None,
        **card_values: Any,
    ) -> dict[str, Any]:
        """Run a command (made from the card's row) that needs nothing but the lifecycle
        rules' consent; keep its ``reason`` text beside the event."""
        now = self._now()
        with self._command(number, within) as (conn, log, size, row):
            draft = decide(card_of(row), command_for(row), now)
            leaf_index = apply(conn, log, size, row, draft, actor, now, **card_values)
            if reason is not None:
                store_reason(conn, leaf_index, reason)
        return {"card_number": number, "state": draft.state.value, "leaf_index": leaf_index}


_card_at_store = (
    sa.select(
        cards,
        stores.c.id.label("store_found"),
        stores.c.name.label("store_name"),
        stores.c.region.label("store_region"),
        recent_redemptions.label("store_recent"),
    )
    .select_from(cards.outerjoin(stores, stores.c.id == sa.bindparam("at_store")))
    .where(cards.c.number == sa.bindparam("for_number"))
)


def _card_at(conn: Connection, number: str, at: str | None, now: datetime) -> Row[Any]:
    """The card's row (CARD_NOT_FOUND), read under the log head; when redeemed at the
    store ``at``, in the same statement the store (see :func:`_store_of`) and its
    redemptions in the last minute (``store_recent``, for :func:`note_burst`)."""
    if at is None:
        return card_or_404(conn, number)
    parameters = {"for_number": number, "at_store": at, "since": now - BURST_WINDOW}
    row = conn.execute(_card_at_store, parameters).first()
    if row is None:
        raise errors.CardNotFound("no card has this number")
    return row


def _store_of(row: Row[Any], store_id: str) -> Store:
    """The store that :func:`_card_at` read beside the card, or STORE_NOT_FOUND."""
    if row.store_found is None:
        raise errors.StoreNotFound(f"store {store_id} does not exist")
    return Store(row.store_found, row.store_name, row.store_region)


def value_answer(draft: EventDraft) -> dict[str, Any]:
    """What a command's answer adds for a value event: its amount and the balance after."""
    if "balance" not in draft.data:
        return {}
    return {"amount": draft.data.get("amount"), "balance": draft.data["balance"]}


def _acting_store(actor: Actor, store_id: str | None) -> str | None:
    """The store a redemption happens at: a store token's own; headquarters' choice."""
    if actor.role == "store":
        if store_id is not None and store_id != actor.store_id:
            raise errors.StoreNotAllowed(f"this token acts only for store {actor.store_id}")
        return actor.store_id
    return None if store_id is None else str(valid(check_store_id, store_id))
