"""Store commands signed by a device key (see :mod:`ledger_service.devices`).

A signature is checked in two steps: its shape, time and cryptography, for the current
deployment, before the transaction (:func:`check_signature`), then under the log head
that the signer is a live key of the store and its client id is new
(:meth:`SignedCommand.check_signer`). The signed amount must be the command's, and the
event's (:meth:`SignedCommand.draft`). An accepted signed command keeps its signature's use
(:meth:`SignedCommand.record`), so that a re-sent one is recognised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from ledger_service import devices, errors
from ledger_service.actor import Actor
from ledger_service.domain.lifecycle import EventDraft

SignatureInput = devices.DeviceSignature | Mapping[str, Any] | None
"""A device signature as a command receives it: parsed, as JSON, or none."""


@dataclass(frozen=True)
class SignedCommand:
    """A store command and the device signature over it, checked but not yet used."""

    command: devices.StoreCommand
    signature: devices.DeviceSignature

    def check_signer(self, conn: Connection) -> None:
        """Under the head lock: the signer is a live key of the store, the client id new."""
        devices.check_key(conn, self.signature.signer, self.command.store)
        devices.check_fresh(conn, self.signature)

    def draft(self, draft: EventDraft) -> EventDraft:
        """The event of the signed command: it occurred when signed and names the device;
        SIGNATURE_INVALID if it would record another amount than the device signed."""
        return devices.signed_draft(draft, self.signature)

    def record(self, conn: Connection, now: datetime, leaf_index: int, state: str) -> None:
        """Keep the accepted command's use of its client id, with its outcome."""
        devices.record_use(
            conn,
            self.signature,
            self.command,
            now,
            card_number=self.command.card,
            leaf_index=leaf_index,
            state=state,
        )


def check_signature(
    engine: Engine,
    signature: SignatureInput,
    actor: Actor,
    number: str,
    action: str,
    store_id: str | None,
    pickup_id: str,
    now: datetime,
    *,
    required: bool,
    amount: int | None = None,
) -> SignedCommand | None:
    """The checked signature over the command, or None for an unsigned command.

    ``amount``: what a redemption takes as the request names it (None: no amount, as a
    pickup step or a pickup card's redemption; signed as 0). A signature over another
    amount is refused with SIGNATURE_INVALID.

    The signature must be made for the current deployment (read from ``engine`` in a
    transaction of its own, the only database read here).

    ``required`` (CARDTRAIL_REQUIRE_STORE_SIGNATURES): a store token's command must be
    signed.
    """
    if signature is None:
        if required and actor.role == "store":
            raise errors.SignatureRequired(
                "this deployment requires store commands signed by a device key"
            )
        return None
    signed = devices.parse_signature(signature)
    if store_id is None:
        raise errors.SignatureInvalid("a signed command must name the store")
    devices.check_window(signed.signed_time, now)
    command = devices.StoreCommand(
        number,
        action,
        store_id,
        pickup_id,
        signed.signed_at,
        signed.client_id,
        amount=0 if amount is None else amount,
    )
    bound = devices.verify(command, signed, devices.current_domain(engine))
    return SignedCommand(command, bound)


def signature_of(signed: SignedCommand | None) -> devices.DeviceSignature | None:
    """The device signature of a signed command (for its refusal's trace)."""
    return None if signed is None else signed.signature
