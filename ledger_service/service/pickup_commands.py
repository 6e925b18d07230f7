"""Pickups: a card's goods collected at a store or delivered, step by step.

Requesting a pickup uses the card (it needs the redemption code); a store marks its
pickups ready and complete, headquarters ships deliveries. Every step is one event of the
card, run through the transaction runner like every other command.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain import lockout
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import (
    PICKUP_MODES,
    PickupComplete,
    PickupReady,
    PickupShip,
    RequestPickup,
    decide,
)
from ledger_service.schema import pickups
from ledger_service.service.checks import WRITERS, card_number, require_role, valid
from ledger_service.service.events_log import apply
from ledger_service.service.rows import (
    card_of,
    card_or_404,
    lock_state,
    lock_values,
    pickup_or_404,
    store_or_404,
)
from ledger_service.service.signed_commands import SignatureInput, check_signature, signature_of
from ledger_service.service.traces import Trace, check_code
from ledger_service.service.transaction import CommandRunner, head

_STEPS: dict[type, str] = {
    PickupReady: "pickup_ready",
    PickupShip: "pickup_ship",
    PickupComplete: "pickup_complete",
}


class PickupCommands(CommandRunner):
    """Requesting a pickup and moving it on."""

    def request_pickup(
        self,
        actor: Actor,
        number: str,
        mode: str,
        redemption_code: str,
        store_id: str | None = None,
        address_ref: str | None = None,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Ask for the card's goods: collected at ``store_id`` or delivered to ``address_ref``."""
        require_role(actor, WRITERS)
        number = card_number(number)
        if mode not in PICKUP_MODES:
            raise errors.ValidationFailed(f"mode must be one of {', '.join(PICKUP_MODES)}")
        if mode == "store":
            if store_id is None or address_ref is not None:
                raise errors.ValidationFailed("a store pickup needs store_id and no address_ref")
            store_id = valid(check_store_id, store_id)
        else:
            if store_id is not None:
                raise errors.ValidationFailed("a delivery pickup has no store_id")
            address_ref = valid(check_text, address_ref, "address_ref")
        pickup_id = "pk_" + secrets.token_hex(8)
        now = self._now()
        trace = Trace(actor, "request_pickup", now, number, store_id)
        with self._command(number, within, trace) as (conn, log, size, row):
            store = store_or_404(conn, store_id) if store_id else None
            draft = decide(card_of(row), RequestPickup(pickup_id, mode, store), now)
            check_code(self._secret, row, redemption_code, now)
            leaf_index = apply(
                conn,
                log,
                size,
                row,
                draft,
                actor,
                now,
                **lock_values(lockout.record_success(lock_state(row))),
            )
            conn.execute(
                sa.insert(pickups),
                {
                    "id": pickup_id,
                    "card_number": number,
                    "mode": mode,
                    "store_id": store_id,
                    "address_ref": address_ref,
                    "state": draft.state.value,
                    "requested_at": now,
                    "updated_at": now,
                },
            )
        return {
            "pickup_id": pickup_id,
            "card_number": number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
        }

    def pickup_ready(
        self,
        actor: Actor,
        pickup_id: str,
        signature: SignatureInput = None,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """The pickup store has the goods ready (a store token: its own pickups only)."""
        return self._pickup_step(actor, pickup_id, PickupReady, ("hq", "store"), signature, within)

    def pickup_ship(
        self, actor: Actor, pickup_id: str, *, within: Connection | None = None
    ) -> dict[str, Any]:
        """The goods of a delivery pickup were shipped (headquarters)."""
        return self._pickup_step(actor, pickup_id, PickupShip, WRITERS, None, within)

    def pickup_complete(
        self,
        actor: Actor,
        pickup_id: str,
        signature: SignatureInput = None,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """The goods were collected or delivered (a store token: its own pickups only)."""
        return self._pickup_step(
            actor, pickup_id, PickupComplete, ("hq", "store"), signature, within
        )

    def _pickup_step(
        self,
        actor: Actor,
        pickup_id: str,
        step: type[PickupReady | PickupShip | PickupComplete],
        roles: Sequence[str],
        signature: SignatureInput,
        within: Connection | None,
    ) -> dict[str, Any]:
        require_role(actor, roles)
        now = self._now()
        action = _STEPS[step]
        # The card and store are known once the pickup is read: the trace learns them then.
        trace = Trace(actor, step.__name__, now)
        with self._run(within, trace) as conn:
            # A pickup's card, mode and store never change: it is read before the head lock.
            pickup = pickup_or_404(conn, pickup_id)
            signed = None
            if step is not PickupShip:
                signed = check_signature(
                    self._engine,
                    signature,
                    actor,
                    pickup.card_number,
                    action,
                    pickup.store_id,
                    pickup.id,
                    now,
                    required=self._require_signatures,
                )
            trace.about(pickup.card_number, actor.store_id or pickup.store_id, signature_of(signed))
            if actor.role == "store" and pickup.store_id != actor.store_id:
                raise errors.StoreNotAllowed(f"this pickup is not at store {actor.store_id}")
            log, size = head(conn)
            row = card_or_404(conn, pickup.card_number)
            if signed is not None:
                signed.check_signer(conn)
            store = store_or_404(conn, pickup.store_id) if pickup.store_id else None
            draft = decide(card_of(row), step(pickup.id, pickup.mode, store), now)
            draft = signed.draft(draft) if signed else draft
            leaf_index = apply(conn, log, size, row, draft, actor, now)
            if signed is not None:
                signed.record(conn, now, leaf_index, draft.state.value)
            conn.execute(
                sa.update(pickups)
                .where(pickups.c.id == pickup.id)
                .values(state=draft.state.value, updated_at=now)
            )
        return {
            "pickup_id": pickup.id,
            "card_number": pickup.card_number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
        }
