"""The merchant JSON API (``/api/v1``): issuance, lifecycle commands, stores and pickups.

Roles at the edge: ``hq`` may do everything, ``auditor`` may read everything, ``store``
acts only for the store its token is bound to (redeem, pickups at that store). Rules that
depend on the card — where it may be used, whether it is still usable — are the
:class:`~ledger_service.service.Ledger`'s, which raises the typed refusals that
:mod:`ledger_service.problems` turns into problem documents.

Every POST needs an ``Idempotency-Key`` header: a missing or malformed one is refused
with 422 ``VALIDATION_FAILED`` before anything runs (see :mod:`ledger_service.idempotency`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app
from sqlalchemy.engine import Connection

from ledger_service import schemas
from ledger_service.actor import Actor, Role
from ledger_service.card_views import card_for
from ledger_service.endpoint import command, dumps, query
from ledger_service.openapi import Operation, Param, build_document, operation
from ledger_service.runtime import ledger

bp = Blueprint("api", __name__, url_prefix="/api/v1")

READERS: tuple[Role, ...] = ("hq", "auditor", "store")
_CARD = {
    "number": Param(
        "The card number (separators and lower case are accepted).", schemas.PathCardNumber
    )
}
_PICKUP = {"id": Param("The pickup id returned when the pickup was requested.")}
_USE_ERRORS = (
    "INVALID_CARD_NUMBER",
    "CARD_NOT_FOUND",
    "CARD_ALREADY_USED",
    "CARD_VOIDED",
    "CARD_EXPIRED",
    "CARD_BLOCKED",
    "INVALID_TRANSITION",
)
_CODE_ERRORS = ("INVALID_CODE", "CODE_LOCKED")
SIGNATURE_ERRORS = (
    "SIGNATURE_REQUIRED",
    "SIGNATURE_INVALID",
    "SIGNATURE_REPLAYED",
    "SIGNATURE_EXPIRED",
    "DEVICE_KEY_UNKNOWN",
    "DEVICE_KEY_WRONG_STORE",
    "DEVICE_KEY_REVOKED",
)


def _store_out(store: dict[str, Any]) -> dict[str, Any]:
    # The API names a store's id as its requests do.
    out = {"store_id": store["id"]}
    out.update((k, v) for k, v in store.items() if k != "id")
    return out


# --- stores -----------------------------------------------------------------------------


@command(
    bp,
    "/stores",
    Operation(
        "Create a store",
        tags=("stores",),
        roles=("hq",),
        request=schemas.CreateStore,
        response=schemas.Store,
        status=201,
        errors=("STORE_EXISTS",),
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def create_store(actor: Actor, body: schemas.CreateStore, *, within: Connection) -> Any:
    """Create a store."""
    created = ledger().create_store(actor, body.store_id, body.name, body.region, within=within)
    return _store_out(created)


@query(
    bp,
    "/stores",
    Operation("List the stores", tags=("stores",), roles=READERS, response=schemas.StoreList),
)
def list_stores(actor: Actor) -> Any:
    """List the stores."""
    return {"stores": [_store_out(store) for store in ledger().list_stores(actor)]}


# --- cards ------------------------------------------------------------------------------


@command(
    bp,
    "/cards",
    Operation(
        "Issue a batch of cards",
        "1 to 10,000 cards in one transaction, one ISSUED event each. The redemption codes "
        "appear only in this response (and in its idempotent replay).",
        tags=("cards",),
        roles=("hq",),
        request=schemas.IssueCards,
        response=schemas.IssuedBatch,
        status=201,
        errors=("STORE_NOT_FOUND",),
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def issue_cards(actor: Actor, body: schemas.IssueCards, *, within: Connection) -> Any:
    """Issue a batch of cards."""
    cards = [card.model_dump(exclude_none=True) for card in body.cards]
    return ledger().issue_cards(actor, body.batch_ref, cards, within=within)


@query(
    bp,
    "/cards/<number>",
    Operation(
        "A card and its events (merchant view)",
        tags=("cards",),
        roles=READERS,
        response=schemas.CardView,
        errors=("INVALID_CARD_NUMBER", "CARD_NOT_FOUND", "VALIDATION_FAILED"),
        parameters=_CARD,
    ),
)
def get_card(actor: Actor, number: str) -> Any:
    """A card and its events, as the caller's role may read it (no holder data for stores)."""
    return card_for(actor, ledger().get_card(actor, number))


@command(
    bp,
    "/cards/<number>/claim",
    Operation(
        "Claim a card for its first holder",
        tags=("cards",),
        roles=("hq",),
        request=schemas.Claim,
        response=schemas.CardState,
        errors=_USE_ERRORS,
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def claim(actor: Actor, body: schemas.Claim, number: str, *, within: Connection) -> Any:
    """Claim a card."""
    return ledger().claim(actor, number, body.holder_ref, within=within)


@command(
    bp,
    "/cards/<number>/transfer",
    Operation(
        "Transfer a card to another holder",
        "The card gets a new redemption code, returned only in this response; the old one "
        "stops working.",
        tags=("cards",),
        roles=("hq",),
        request=schemas.Transfer,
        response=schemas.Transferred,
        errors=_USE_ERRORS + _CODE_ERRORS,
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def transfer(actor: Actor, body: schemas.Transfer, number: str, *, within: Connection) -> Any:
    """Transfer a card."""
    return ledger().transfer(actor, number, body.redemption_code, body.to_holder_ref, within=within)


@command(
    bp,
    "/cards/<number>/redeem",
    Operation(
        "Redeem a card at the calling store",
        "A store token redeems at its own store (a store_id naming another store is "
        "refused with STORE_NOT_ALLOWED); headquarters may name the store or none. A card "
        "is used at most once, however many requests race for it.",
        tags=("cards",),
        roles=("store", "hq"),
        request=schemas.Redeem,
        response=schemas.CardState,
        errors=_USE_ERRORS
        + _CODE_ERRORS
        + SIGNATURE_ERRORS
        + ("STORE_NOT_ALLOWED", "STORE_NOT_FOUND"),
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def redeem(actor: Actor, body: schemas.Redeem, number: str, *, within: Connection) -> Any:
    """Redeem a card (one transaction with its idempotency record)."""
    signature = body.signature.model_dump() if body.signature else None
    return ledger().redeem(
        actor,
        number,
        body.redemption_code,
        store_id=body.store_id,
        signature=signature,
        within=within,
    )


def _reasoned(name: str, summary: str) -> None:
    def view(actor: Actor, body: schemas.WithReason, number: str, *, within: Connection) -> Any:
        return getattr(ledger(), name)(
            actor, number, body.reason, reason_code=body.reason_code, within=within
        )

    view.__name__ = view.__qualname__ = name
    view.__doc__ = summary
    spec = Operation(
        summary,
        tags=("cards",),
        roles=("hq",),
        request=schemas.WithReason,
        response=schemas.CardState,
        errors=_USE_ERRORS,
        parameters=_CARD,
    )
    command(bp, f"/cards/<number>/{name}", spec, unit_of_work=lambda: ledger().unit_of_work())(view)


_reasoned("block", "Block a card (it keeps its state until unblocked)")
_reasoned("unblock", "Unblock a card")
_reasoned("void", "Void a card for good")


# --- pickups ----------------------------------------------------------------------------


@command(
    bp,
    "/cards/<number>/pickups",
    Operation(
        "Request a pickup: collect at a store or have it delivered",
        tags=("pickups",),
        roles=("hq",),
        request=schemas.PickupRequest,
        response=schemas.Pickup,
        status=201,
        errors=_USE_ERRORS
        + _CODE_ERRORS
        + ("STORE_NOT_ALLOWED", "STORE_NOT_FOUND", "VALIDATION_FAILED"),
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def request_pickup(
    actor: Actor,
    body: schemas.StorePickup | schemas.DeliveryPickup,
    number: str,
    *,
    within: Connection,
) -> Any:
    """Request a pickup."""
    if isinstance(body, schemas.StorePickup):
        return ledger().request_pickup(
            actor,
            number,
            "store",
            body.redemption_code,
            store_id=body.store_id,
            day=body.day,
            within=within,
        )
    return ledger().request_pickup(
        actor,
        number,
        "delivery",
        body.redemption_code,
        address_ref=body.address_ref,
        within=within,
    )


def _pickup_step(name: str, roles: tuple[Role, ...], summary: str) -> None:
    # A store's own steps may carry a device signature; shipping is headquarters' alone.
    signed = "store" in roles

    def view(actor: Actor, body: schemas.PickupStep, id: str, *, within: Connection) -> Any:
        step = getattr(ledger(), f"pickup_{name}")
        if not signed:
            return step(actor, id, within=within)
        signature = body.signature.model_dump() if body.signature else None
        return step(actor, id, signature=signature, within=within)

    view.__name__ = view.__qualname__ = f"pickup_{name}"
    view.__doc__ = summary
    spec = Operation(
        summary,
        tags=("pickups",),
        roles=roles,
        request=schemas.PickupStep if signed else schemas.Empty,
        response=schemas.Pickup,
        errors=("PICKUP_NOT_FOUND", "INVALID_TRANSITION", "STORE_NOT_ALLOWED")
        + (SIGNATURE_ERRORS if signed else ()),
        parameters=_PICKUP,
    )
    command(bp, f"/pickups/<id>/{name}", spec, unit_of_work=lambda: ledger().unit_of_work())(view)


_pickup_step("ready", ("hq", "store"), "Mark a store pickup ready to collect")
_pickup_step("review", ("hq",), "Mark a delivery request reviewed (before shipping it)")
_PICKUP_ERRORS = ("PICKUP_NOT_FOUND", "INVALID_TRANSITION", "STORE_NOT_ALLOWED")


@command(
    bp,
    "/pickups/<id>/ship",
    Operation(
        "Ship a reviewed delivery",
        "The carrier goes into the log; the tracking number only as its salted hash.",
        tags=("pickups",),
        roles=("hq",),
        request=schemas.PickupShipment,
        response=schemas.Pickup,
        errors=_PICKUP_ERRORS + ("VALIDATION_FAILED",),
        parameters=_PICKUP,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def pickup_ship(actor: Actor, body: schemas.PickupShipment, id: str, *, within: Connection) -> Any:
    """Ship a delivery."""
    return ledger().pickup_ship(actor, id, body.carrier, body.tracking_number, within=within)


@command(
    bp,
    "/pickups/<id>/complete",
    Operation(
        "Complete a pickup: hand the goods over, or mark a delivery delivered",
        "A store pickup is completed only with the customer's credential: the rotating code "
        "of the customer's pickup page or the card's code (wrong ones count toward the "
        "card's lockout). The bottle serials scanned at the counter go into the event.",
        tags=("pickups",),
        roles=("hq", "store"),
        request=schemas.PickupCompletion,
        response=schemas.Pickup,
        errors=_PICKUP_ERRORS + _CODE_ERRORS + SIGNATURE_ERRORS + ("VALIDATION_FAILED",),
        parameters=_PICKUP,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def pickup_complete(
    actor: Actor, body: schemas.PickupCompletion, id: str, *, within: Connection
) -> Any:
    """Complete a pickup."""
    signature = body.signature.model_dump() if body.signature else None
    return ledger().pickup_complete(
        actor,
        id,
        signature=signature,
        credential=body.credential,
        code=body.code,
        serials=body.serials,
        within=within,
    )


@command(
    bp,
    "/pickups/<id>/cancel",
    Operation(
        "Cancel a pickup before it is ready or shipped",
        "The card returns to its state before the request.",
        tags=("pickups",),
        roles=("hq",),
        request=schemas.Empty,
        response=schemas.Pickup,
        errors=_PICKUP_ERRORS,
        parameters=_PICKUP,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def pickup_cancel(actor: Actor, body: schemas.Empty, id: str, *, within: Connection) -> Any:
    """Cancel a pickup."""
    return ledger().cancel_pickup(actor, id, within=within)


@command(
    bp,
    "/pickups/<id>/move",
    Operation(
        "Move a store pickup to another store or day before it is ready",
        tags=("pickups",),
        roles=("hq",),
        request=schemas.PickupMove,
        response=schemas.Pickup,
        errors=_PICKUP_ERRORS + ("STORE_NOT_FOUND", "VALIDATION_FAILED"),
        parameters=_PICKUP,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def pickup_move(actor: Actor, body: schemas.PickupMove, id: str, *, within: Connection) -> Any:
    """Move a pickup."""
    return ledger().move_pickup(actor, id, body.store_id, body.day, within=within)


@query(
    bp,
    "/pickups/ready",
    Operation(
        "The calling store's pickups ready to hand over, with their code secrets",
        "For the store's counter device: each pickup's rotating-code secret lets it check "
        "the customer's code while offline (then sync the signed completion).",
        tags=("pickups",),
        roles=("store",),
        response=schemas.ReadyPickupList,
    ),
)
def ready_pickups(actor: Actor) -> Any:
    """The store's ready pickups."""
    return {"pickups": ledger().ready_pickups(actor)}


# --- the document -----------------------------------------------------------------------


@bp.get("/openapi.json")
@operation(
    Operation(
        "This OpenAPI 3.1 document",
        tags=("meta",),
        response=None,
        content_type="application/json",
    )
)
def openapi_json() -> Response:
    """The OpenAPI document of every route under /api/v1."""
    return Response(dumps(build_document(current_app)), mimetype="application/json")
