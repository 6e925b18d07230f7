"""The device-key and offline-sync routes of the merchant API (``/api/v1``).

``/stores/{store_id}/keys``: headquarters registers and revokes a store's device keys; a
store token lists its own. ``/sync``: a store client sends the signed commands it queued
while the service was out of reach, in the order it made them. Each item is decided once
by its device's client id — a re-sent item gets its first answer back, marked
``replayed`` — and the first valid use of a card wins: a queued redemption of a card used
elsewhere meanwhile comes back refused with its reason, and the console lists it as an
``offline_conflict`` anomaly.

Devices sign for the current deployment: the EIP-712 domain's ``chainId`` and
``verifyingContract`` are the ``chain_id`` and ``contract`` that ``GET /api/v1/chain``
reports (:class:`~ledger_service.devices.SigningDomain`). A command signed for another
deployment, or sent before the first one exists, is refused with SIGNATURE_INVALID and
stays undecided. So is one whose device signed another amount than the item names, and
one signed under an earlier domain version, which named no amount
(:data:`~ledger_service.devices.DOMAIN_VERSION`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint

from anchoring.db import read_transaction, write_transaction
from ledger_service import devices, errors, schemas
from ledger_service.actor import Actor
from ledger_service.domain.numbers import CardNumberError, normalize_card_number
from ledger_service.endpoint import command, query
from ledger_service.events import utc_now
from ledger_service.openapi import Operation, Param
from ledger_service.runtime import ledger, runtime
from ledger_service.schema import pickups

bp = Blueprint("devices_api", __name__, url_prefix="/api/v1")

_STORE = {"store_id": Param("The store's id.", schemas.StoreId)}
_KEY = {**_STORE, "address": Param("The device key's 0x address.", schemas.Address)}
# Refusals that say nothing about the card: the item was not decided, and may be re-sent.
_UNDECIDED = (
    errors.SignatureInvalid,
    errors.SignatureExpired,
    errors.SignatureRequired,
    errors.SignatureReplayed,
    errors.DeviceKeyUnknown,
    errors.DeviceKeyRevoked,
    errors.Forbidden,
    errors.RateLimited,
    errors.ValidationFailed,
    errors.PickupNotFound,
)


def registry() -> devices.KeyRegistry:
    """The application's device key registry."""
    return devices.KeyRegistry(runtime().engine)


# --- keys -------------------------------------------------------------------------------


@command(
    bp,
    "/stores/<store_id>/keys",
    Operation(
        "Register a device key of a store",
        "The address of a store device's key (e.g. from `cardtrail store-client keygen`). "
        "An address is registered once: a revoked key can never come back.",
        tags=("stores",),
        roles=("hq",),
        request=schemas.RegisterKey,
        response=schemas.DeviceKey,
        status=201,
        errors=("STORE_NOT_FOUND", "DEVICE_KEY_EXISTS"),
        parameters=_STORE,
    ),
)
def register_key(actor: Actor, body: schemas.RegisterKey, store_id: str) -> Any:
    """Register a device key."""
    return registry().register(actor, store_id, body.address, body.label)


@query(
    bp,
    "/stores/<store_id>/keys",
    Operation(
        "List a store's device keys",
        "Revoked keys stay listed. A store token lists only its own store's keys.",
        tags=("stores",),
        roles=("hq", "auditor", "store"),
        response=schemas.DeviceKeyList,
        errors=("STORE_NOT_FOUND", "VALIDATION_FAILED"),
        parameters=_STORE,
    ),
)
def list_keys(actor: Actor, store_id: str) -> Any:
    """List a store's device keys."""
    return {"keys": registry().list(actor, store_id)}


@command(
    bp,
    "/stores/<store_id>/keys/<address>/revoke",
    Operation(
        "Revoke a device key for good",
        "Commands signed by the key are refused from now on with DEVICE_KEY_REVOKED, "
        "including ones it signed earlier and that are still queued.",
        tags=("stores",),
        roles=("hq",),
        request=schemas.Empty,
        response=schemas.DeviceKey,
        errors=("DEVICE_KEY_NOT_FOUND",),
        parameters=_KEY,
    ),
)
def revoke_key(actor: Actor, body: schemas.Empty, store_id: str, address: str) -> Any:
    """Revoke a device key."""
    return registry().revoke(actor, store_id, address)


# --- sync -------------------------------------------------------------------------------


@command(
    bp,
    "/sync",
    Operation(
        "Send a store client's queued signed commands",
        "Items run in order, each in its own transaction, and each is decided once per "
        "device client id: re-sending an item returns its first result with `replayed` "
        "true. A refusal because of the card (used elsewhere meanwhile, blocked, …) is "
        "final and listed on the console; a refusal of the signature is not recorded. "
        "`occurred_at` of a logged event is the signing time, `recorded_at` the server's.",
        tags=("cards",),
        roles=("store",),
        request=schemas.SyncBatch,
        response=schemas.SyncResults,
    ),
)
def sync(actor: Actor, body: schemas.SyncBatch) -> Any:
    """Apply queued signed commands in order."""
    return {"results": [_sync_item(actor, item) for item in body.items]}


def _sync_item(actor: Actor, item: schemas.SyncItem) -> dict[str, Any]:
    client_id = item.signature.client_id
    try:
        signed = devices.parse_signature(item.signature.model_dump())
    except errors.LedgerError as exc:
        return _refused(client_id, item.card_number, exc)
    earlier = _earlier(signed)
    if earlier is not None:
        return earlier
    try:
        if item.action == "redeem":
            done = ledger().redeem(
                actor,
                str(item.card_number),
                str(item.redemption_code),
                signature=signed,
                amount=item.amount,
            )
        elif item.action == "pickup_complete":
            done = ledger().pickup_complete(
                actor,
                str(item.pickup_id),
                signature=signed,
                credential=item.credential,
                code=item.code,
                serials=item.serials or [],
            )
        else:
            done = ledger().pickup_ready(actor, str(item.pickup_id), signature=signed)
    except errors.SignatureReplayed as exc:
        # A twin of this item may have been decided meanwhile: give its answer.
        return _earlier(signed) or _refused(client_id, item.card_number, exc)
    except errors.LedgerError as exc:
        if not isinstance(exc, _UNDECIDED):
            _remember_refusal(actor, item, signed, exc)
        return _refused(client_id, item.card_number, exc)
    return {
        "client_id": client_id,
        "status": "accepted",
        "replayed": False,
        "card_number": done["card_number"],
        "state": done["state"],
        "leaf_index": done["leaf_index"],
    }


def _refused(client_id: str, card_number: str | None, exc: errors.LedgerError) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "status": "refused",
        "replayed": False,
        "card_number": card_number,
        "code": exc.code,
        "detail": exc.detail,
    }


def _earlier(signed: devices.DeviceSignature) -> dict[str, Any] | None:
    """The recorded result of this device's client id, or SIGNATURE_REPLAYED if the id
    was used for another command; None if it is new."""
    with read_transaction(runtime().engine) as conn:
        row = devices.find_use(conn, signed.signer, signed.client_id)
    if row is None:
        return None
    if row.signature != signed.signature:
        return _refused(
            signed.client_id,
            None,
            errors.SignatureReplayed(f"client id {signed.client_id} was used for another command"),
        )
    return {**devices.outcome_json(row), "replayed": True}


def _remember_refusal(
    actor: Actor, item: schemas.SyncItem, signed: devices.DeviceSignature, exc: errors.LedgerError
) -> None:
    """Keep a card's refusal of a validly signed item, so that a re-send gets it again."""
    engine = runtime().engine
    if item.action == "redeem":
        try:
            number = normalize_card_number(str(item.card_number))
        except CardNumberError:
            return
        store_id, pickup_id = actor.store_id, ""
    else:
        with read_transaction(engine) as conn:
            pickup = conn.execute(
                sa.select(pickups.c.card_number, pickups.c.store_id).where(
                    pickups.c.id == item.pickup_id
                )
            ).first()
        if pickup is None or pickup.store_id is None:
            return
        number, store_id, pickup_id = pickup.card_number, pickup.store_id, str(item.pickup_id)
    cmd = devices.StoreCommand(
        number,
        item.action,
        str(store_id),
        pickup_id,
        signed.signed_at,
        signed.client_id,
        amount=item.amount or 0,
    )
    try:
        devices.verify(cmd, signed, devices.current_domain(engine))
    except errors.SignatureInvalid:
        return
    try:
        with write_transaction(engine) as conn:
            devices.record_use(conn, signed, cmd, utc_now(), card_number=number, error=exc)
    except sa.exc.IntegrityError:
        pass  # a concurrent twin recorded it first
