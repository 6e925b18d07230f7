"""Pickups: a card's goods collected at a store or delivered, step by step.

Requesting a pickup uses the card (it needs the redemption code; a bearer card needs no
claim first); until the goods are ready or shipped the customer may cancel it (the card
returns to its state before) or move it to another store or day. A store marks its
pickups ready and hands the goods over only against the customer's credential: the
rotating code of the customer's pickup page (:mod:`ledger_service.domain.pickups`) or the
card's code; a wrong one counts toward the card's lockout like a wrong redemption code.
Headquarters reviews a delivery, ships it (carrier, tracking number) and marks it
delivered. Every step is one event of the card, run through the transaction runner.

A delivery address stays out of the log: the row keeps it sealed under the server secret
(:mod:`ledger_service.sealing`), the event keeps its salted hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger_service import errors, sealing
from ledger_service.actor import Actor
from ledger_service.domain import pickups as rules
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import (
    CREDENTIALS,
    PICKUP_MODES,
    CancelPickup,
    CardState,
    Credential,
    MovePickup,
    PickupComplete,
    PickupReady,
    PickupReview,
    PickupShip,
    RequestPickup,
    decide,
)
from ledger_service.schema import pickups
from ledger_service.service import serials, stock
from ledger_service.service.checks import READERS, WRITERS, card_number, require_role, valid
from ledger_service.service.events_log import apply
from ledger_service.service.rows import (
    card_of,
    card_or_404,
    pickup_or_404,
    store_or_404,
    utc,
)
from ledger_service.service.signed_commands import SignatureInput, check_signature, signature_of
from ledger_service.service.traces import CodeMatch, Trace
from ledger_service.service.transaction import CommandRunner, head

_STEPS: dict[type, str] = {
    PickupReady: "pickup_ready",
    PickupReview: "pickup_review",
    PickupShip: "pickup_ship",
    PickupComplete: "pickup_complete",
}
CUSTOMER_WRITERS = (*WRITERS, "customer")
"""Who may request, cancel and move a pickup: headquarters, or the card's holder."""
_ACCESS_CONTEXT = b"cardtrail/pickup-access/v1\x00"
_OPEN = ("PICKUP_REQUESTED", "PICKUP_READY", "PICKUP_REVIEWED", "PICKUP_SHIPPED")


def credential_match(
    secret_key: bytes, pickup_id: str, credential: Credential, at: datetime
) -> CodeMatch | None:
    """How the customer's ``credential`` is checked: the rotating code of the pickup at
    ``at`` (the signing time of an offline command), or (None) the card's own code."""
    if credential == "card_code":
        return None
    secret = rules.pickup_secret(secret_key, pickup_id)
    return lambda code: rules.rotating_code_matches(secret, code, at)


DAY_RULE = "a date from today to 90 days ahead"
SERIALS_RULE = "no serial twice"
CREDENTIAL_RULE = "required for a store pickup, none for a delivery"
"""What the body's members must satisfy beyond their schema (``errors`` of the refusal)."""


def _relation(loc: str, rule: str, detail: str) -> errors.ValidationFailed:
    """A refusal of a member that its schema admits but the pickup's rules do not."""
    return errors.ValidationFailed(detail, errors=[{"loc": f"body.{loc}", "message": rule}])


def _day(text: str, now: datetime) -> str:
    try:
        return rules.check_day(text, now)
    except ValueError as exc:
        raise _relation("day", DAY_RULE, str(exc)) from None


class PickupCommands(CommandRunner):
    """Requesting a pickup and moving it on."""

    def pickup_access_key(self, pickup_id: str) -> str:
        """The key of the customer's pickup page: whoever holds it sees the rotating code,
        so it is handed only to whoever showed the card's code."""
        digest = hmac.new(self._secret, _ACCESS_CONTEXT + pickup_id.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def request_pickup(
        self,
        actor: Actor,
        number: str,
        mode: str,
        redemption_code: str,
        store_id: str | None = None,
        address_ref: str | None = None,
        *,
        day: str | None = None,
        address: str | None = None,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Ask for the card's goods: collected at ``store_id`` (on ``day``) or delivered to
        ``address`` (the customer's words, sealed) or ``address_ref`` (the merchant's
        reference to one)."""
        require_role(actor, CUSTOMER_WRITERS)
        number = card_number(number)
        if mode not in PICKUP_MODES:
            raise errors.ValidationFailed(f"mode must be one of {', '.join(PICKUP_MODES)}")
        now = self._now()
        if mode == "store":
            if store_id is None or address_ref is not None or address is not None:
                raise errors.ValidationFailed("a store pickup needs store_id and no address")
            store_id = valid(check_store_id, store_id)
        else:
            if store_id is not None:
                raise errors.ValidationFailed("a delivery pickup has no store_id")
            if (address is None) == (address_ref is None):
                raise errors.ValidationFailed("a delivery needs an address or an address_ref")
            if address is not None:
                address = valid(check_text, address, "address")
            else:
                address_ref = valid(check_text, address_ref, "address_ref")
        if day is not None:
            day = _day(day, now)
        pickup_id = "pk_" + secrets.token_hex(8)
        salt = secrets.token_bytes(16) if mode == "delivery" else None
        delivered_to = address if address is not None else address_ref
        address_hash = (
            rules.address_hash(salt, delivered_to) if salt and delivered_to is not None else None
        )
        trace = Trace(actor, "request_pickup", now, number, store_id)
        with self._command(number, within, trace) as (conn, log, size, row):
            store = store_or_404(conn, store_id) if store_id else None
            command = RequestPickup(pickup_id, mode, store, day, address_hash)
            draft = decide(card_of(row), command, now)
            leaf_index = self._apply_with_code(
                conn, log, size, row, redemption_code, draft, actor, now
            )
            # After the code's check, so that a wrong code is counted whatever the stock.
            if store_id is not None and row.sku is not None:
                stock.reserve(conn, store_id, row.sku, stock.product_units(conn, row.sku), now=now)
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
                    "day": day,
                    "from_state": row.state,
                    "address_sealed": (
                        sealing.seal(self._secret, "address", pickup_id, address)
                        if address is not None
                        else None
                    ),
                    "address_salt": salt,
                },
            )
        return {
            **self._answer(pickup_id, number, draft.state.value, leaf_index),
            "access_key": self.pickup_access_key(pickup_id),
        }

    def cancel_pickup(
        self,
        actor: Actor,
        pickup_id: str,
        redemption_code: str | None = None,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Call the pickup off before it is ready or shipped; the card returns to its
        state before the request. The customer shows the card's code; headquarters not."""
        return self._by_holder(actor, pickup_id, redemption_code, None, None, within)

    def move_pickup(
        self,
        actor: Actor,
        pickup_id: str,
        store_id: str,
        day: str | None = None,
        redemption_code: str | None = None,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Move a store pickup that is not ready yet to ``store_id`` and/or ``day``."""
        store_id = valid(check_store_id, store_id)
        return self._by_holder(actor, pickup_id, redemption_code, store_id, day, within)

    def _by_holder(
        self,
        actor: Actor,
        pickup_id: str,
        redemption_code: str | None,
        store_id: str | None,
        day: str | None,
        within: Connection | None,
    ) -> dict[str, Any]:
        """A cancel (``store_id`` None) or a move, by headquarters or the card's holder."""
        require_role(actor, CUSTOMER_WRITERS)
        if actor.role == "customer" and redemption_code is None:
            raise errors.ValidationFailed("the card's code is needed")
        now = self._now()
        if day is not None:
            day = _day(day, now)
        name = "cancel_pickup" if store_id is None else "move_pickup"
        trace = Trace(actor, name, now)
        with self._run(within, trace) as conn:
            pickup = pickup_or_404(conn, pickup_id)
            trace.about(pickup.card_number, store_id or pickup.store_id, None)
            log, size = head(conn)
            row = card_or_404(conn, pickup.card_number)
            if store_id is None:
                # Pickups from before ledger_core_0007 could only be asked for when claimed.
                back_to = CardState(pickup.from_state or CardState.CLAIMED.value)
                draft = decide(card_of(row), CancelPickup(pickup.id, back_to), now)
            else:
                store = store_or_404(conn, store_id)
                draft = decide(card_of(row), MovePickup(pickup.id, pickup.mode, store, day), now)
            if redemption_code is None:  # headquarters, which needs no code
                leaf_index = apply(conn, log, size, row, draft, actor, now)
            else:
                leaf_index = self._apply_with_code(
                    conn, log, size, row, redemption_code, draft, actor, now
                )
            _restock(conn, pickup, row, store_id, now)
            state = "PICKUP_CANCELLED" if store_id is None else draft.state.value
            moved = {} if store_id is None else {"store_id": store_id, "day": day}
            conn.execute(
                sa.update(pickups)
                .where(pickups.c.id == pickup.id)
                .values(state=state, updated_at=now, **moved)
            )
        return self._answer(pickup.id, pickup.card_number, draft.state.value, leaf_index)

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

    def pickup_review(
        self, actor: Actor, pickup_id: str, *, within: Connection | None = None
    ) -> dict[str, Any]:
        """Headquarters checked a delivery request (PICKUP_REQUESTED → PICKUP_REVIEWED)."""
        return self._pickup_step(actor, pickup_id, PickupReview, WRITERS, None, within)

    def pickup_ship(
        self,
        actor: Actor,
        pickup_id: str,
        carrier: str,
        tracking_number: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """The goods of a reviewed delivery left with ``carrier`` under ``tracking_number``
        (headquarters); the log keeps the number's salted hash."""
        require_role(actor, WRITERS)
        carrier = valid(check_text, carrier, "carrier")[:64]
        tracking_number = valid(check_text, tracking_number, "tracking_number")[:64]
        return self._pickup_step(
            actor,
            pickup_id,
            PickupShip,
            WRITERS,
            None,
            within,
            details={"carrier": carrier},
            tracking_number=tracking_number,
        )

    def pickup_complete(
        self,
        actor: Actor,
        pickup_id: str,
        signature: SignatureInput = None,
        *,
        credential: str | None = None,
        code: str | None = None,
        serials: Sequence[str] = (),
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """The goods were collected or delivered (a store token: its own pickups only).

        A store pickup needs the customer's ``credential`` ("rotating_code" or
        "card_code") and its ``code``; ``serials``: the bottle serials scanned at the
        counter. A signed (offline) command's rotating code is checked at its signing time.
        """
        if credential is not None and credential not in CREDENTIALS:
            raise errors.ValidationFailed(f"credential must be one of {', '.join(CREDENTIALS)}")
        try:
            checked = rules.check_serials(serials)
        except ValueError as exc:
            raise _relation("serials", SERIALS_RULE, str(exc)) from None
        return self._pickup_step(
            actor,
            pickup_id,
            PickupComplete,
            ("hq", "store"),
            signature,
            within,
            details={"credential": credential, "serials": checked},
            code=code,
        )

    def _pickup_step(
        self,
        actor: Actor,
        pickup_id: str,
        step: type[PickupReady | PickupReview | PickupShip | PickupComplete],
        roles: Sequence[str],
        signature: SignatureInput,
        within: Connection | None,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        tracking_number: str | None = None,
    ) -> dict[str, Any]:
        require_role(actor, roles)
        now = self._now()
        action = _STEPS[step]
        details = dict(details or {})
        # The card and store are known once the pickup is read: the trace learns them then.
        trace = Trace(actor, step.__name__, now)
        with self._run(within, trace) as conn:
            # A pickup's card and mode never change: it is read before the head lock.
            pickup = pickup_or_404(conn, pickup_id)
            signed = None
            if step is PickupReady or step is PickupComplete:
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
            card = card_of(row)
            # Asked only of a pickup that is there to be completed: a refusal of its
            # state comes first.
            waiting = card.state in (CardState.PICKUP_READY, CardState.PICKUP_SHIPPED)
            if (
                step is PickupComplete
                and waiting
                and (details["credential"] is None) == (pickup.mode == "store")
            ):
                detail = (
                    "a store pickup needs the customer's code"
                    if pickup.mode == "store"
                    else "a delivery is completed without a counter credential"
                )
                raise _relation("credential", CREDENTIAL_RULE, detail)
            columns: dict[str, Any] = {}
            if tracking_number is not None:
                salt = secrets.token_bytes(16)
                details["tracking_hash"] = rules.tracking_hash(salt, tracking_number)
                columns = {
                    "carrier": details["carrier"],
                    "tracking_number": tracking_number,
                    "tracking_salt": salt,
                }
            command = step(pickup.id, pickup.mode, store, **details)
            draft = decide(card, command, now)
            draft = signed.draft(draft) if signed else draft
            if isinstance(command, PickupComplete) and command.credential is not None:
                at = signed.signature.signed_time if signed else now
                matches = credential_match(self._secret, pickup.id, command.credential, at)
                leaf_index = self._apply_with_code(
                    conn, log, size, row, code, draft, actor, now, matches=matches
                )
            else:
                leaf_index = apply(conn, log, size, row, draft, actor, now)
            if isinstance(command, PickupComplete):
                columns = {
                    "credential": command.credential,
                    "serials": json.dumps(list(command.serials)),
                }
                # After the credential's check, so that a wrong code is counted regardless.
                if _draws_on_stock(pickup, row):
                    units = stock.product_units(conn, row.sku)
                    stock.consume(conn, pickup.store_id, row.sku, units, now=now)
                if command.serials:
                    serials.record_serials(conn, leaf_index, row.number, command.serials)
            if signed is not None:
                signed.record(conn, now, leaf_index, draft.state.value)
            conn.execute(
                sa.update(pickups)
                .where(pickups.c.id == pickup.id)
                .values(state=draft.state.value, updated_at=now, **columns)
            )
        return self._answer(pickup.id, pickup.card_number, draft.state.value, leaf_index)

    def pickup_progress(self, pickup_id: str, access_key: str) -> dict[str, Any]:
        """The customer's pickup page: its steps so far, and while it waits at the store
        the rotating code of this moment (PICKUP_NOT_FOUND for a wrong key, as for none)."""
        with self._engine.connect() as conn:
            pickup = conn.execute(sa.select(pickups).where(pickups.c.id == pickup_id)).first()
        if pickup is None or not hmac.compare_digest(
            self.pickup_access_key(pickup.id), str(access_key)
        ):
            raise errors.PickupNotFound("no such pickup")
        now = self._now()
        out = pickup_json(pickup)
        if pickup.mode == "store" and pickup.state in ("PICKUP_REQUESTED", "PICKUP_READY"):
            secret = rules.pickup_secret(self._secret, pickup.id)
            out["rotating_code"] = rules.rotating_code(secret, now)
            out["code_seconds_left"] = rules.seconds_left(now)
        return out

    def ready_pickups(self, actor: Actor) -> list[dict[str, Any]]:
        """A store device's list of its pickups waiting at the counter, each with the
        secret of its rotating code, so the device can check codes while offline."""
        require_role(actor, ("store",))
        query = sa.select(pickups).where(
            pickups.c.store_id == actor.store_id, pickups.c.state == "PICKUP_READY"
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(pickups.c.requested_at)).all()
        return [
            {**pickup_json(row), "code_secret": rules.pickup_secret(self._secret, row.id)}
            for row in rows
        ]

    def open_pickup(self, actor: Actor, number: str) -> Row[Any] | None:
        """The card's pickup under way, if any."""
        require_role(actor, (*READERS, "customer"))
        query = (
            sa.select(pickups)
            .where(pickups.c.card_number == card_number(number), pickups.c.state.in_(_OPEN))
            .order_by(pickups.c.requested_at.desc())
            .limit(1)
        )
        with self._engine.connect() as conn:
            return conn.execute(query).first()

    def delivery_address(self, actor: Actor, pickup_id: str) -> str | None:
        """The delivery address of a pickup, unsealed (headquarters, to ship it)."""
        require_role(actor, WRITERS)
        with self._engine.connect() as conn:
            pickup = pickup_or_404(conn, pickup_id)
        if pickup.address_sealed is None:
            return None
        return sealing.unseal(self._secret, "address", pickup.id, bytes(pickup.address_sealed))

    @staticmethod
    def _answer(pickup_id: str, number: str, state: str, leaf_index: int) -> dict[str, Any]:
        return {
            "pickup_id": pickup_id,
            "card_number": number,
            "state": state,
            "leaf_index": leaf_index,
        }


def _draws_on_stock(pickup: Row[Any], card: Row[Any]) -> bool:
    """Whether the pickup holds units of a store's stock: a store pickup of a card from
    the catalogue (cards issued with a free-text product name have no stock line)."""
    return pickup.mode == "store" and pickup.store_id is not None and card.sku is not None


def _restock(
    conn: Connection, pickup: Row[Any], card: Row[Any], new_store: str | None, now: datetime
) -> None:
    """A cancel (``new_store`` None) gives the pickup's units back to its store; a move
    to another store gives them back there and holds them at the new one."""
    if not _draws_on_stock(pickup, card) or new_store == pickup.store_id:
        return
    units = stock.product_units(conn, card.sku)
    stock.release(conn, pickup.store_id, card.sku, units, now=now)
    if new_store is not None:
        stock.reserve(conn, new_store, card.sku, units, now=now)


def pickup_json(row: Row[Any]) -> dict[str, Any]:
    """A pickup as its customer and its store see it (no address, no secrets)."""
    return {
        "pickup_id": row.id,
        "card_number": row.card_number,
        "mode": row.mode,
        "store_id": row.store_id,
        "day": row.day,
        "state": row.state,
        "requested_at": utc(row.requested_at),
        "updated_at": utc(row.updated_at),
        "carrier": row.carrier,
        "tracking_number": row.tracking_number,
        "serials": json.loads(row.serials) if row.serials else [],
    }
