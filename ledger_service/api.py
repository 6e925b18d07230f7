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

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.engine import Connection

from ledger_service import auth, errors, schemas
from ledger_service.actor import Actor, Role
from ledger_service.card_views import card_for, dated
from ledger_service.endpoint import command, dumps, query
from ledger_service.openapi import Operation, Param, build_document, operation
from ledger_service.runtime import ledger, runtime

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
    "CARD_NOT_ACTIVE",
)
_VALUE_ERRORS = ("INSUFFICIENT_BALANCE", "WRONG_CARD_KIND")
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
    place = body.model_dump(exclude={"store_id", "name", "region"}, exclude_none=True)
    created = ledger().create_store(
        actor, body.store_id, body.name, body.region, within=within, **place
    )
    return _store_out(created)


_STORE = {"store_id": Param("The store's id.")}
_STOCK = {**_STORE, "sku": Param("The product's SKU.")}


@command(
    bp,
    "/stores/<store_id>",
    Operation(
        "Describe a store: name, region, address, city, opening hours, coordinates",
        "The members sent are set (null clears an optional one); the others are kept.",
        tags=("stores",),
        roles=("hq",),
        request=schemas.UpdateStore,
        response=schemas.Store,
        errors=("STORE_NOT_FOUND",),
        parameters=_STORE,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def update_store(
    actor: Actor, body: schemas.UpdateStore, store_id: str, *, within: Connection
) -> Any:
    """Change a store's description."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return _store_out(ledger().update_store(actor, store_id, changes, within=within))


# --- stock ------------------------------------------------------------------------------


@query(
    bp,
    "/stock",
    Operation(
        "Stock per store and product",
        "A store token sees its own store's lines only.",
        tags=("stock",),
        roles=READERS,
        response=schemas.StockList,
        query={
            "store_id": {
                "required": False,
                "schema": {"type": "string", "pattern": schemas.STORE_ID_PATTERN},
                "description": "Only this store.",
            },
            "sku": {
                "required": False,
                "schema": {"type": "string", "maxLength": 64, "pattern": schemas.PRINTABLE_PATTERN},
                "description": "Only this product.",
            },
        },
    ),
)
def list_stock(actor: Actor) -> Any:
    """Stock lines by store and SKU."""
    store_id, sku = request.args.get("store_id"), request.args.get("sku")
    return {"stock": ledger().list_stock(actor, store_id=store_id, sku=sku)}


@command(
    bp,
    "/stores/<store_id>/stock/<sku>",
    Operation(
        "Set a store's stock of a product: units on hand and the low-water mark",
        "On hand never falls below the units reserved by pending pickups (VALIDATION_FAILED).",
        tags=("stock",),
        roles=("hq",),
        request=schemas.SetStock,
        response=schemas.StockLine,
        errors=("STORE_NOT_FOUND", "PRODUCT_NOT_FOUND"),
        parameters=_STOCK,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def set_stock(
    actor: Actor, body: schemas.SetStock, store_id: str, sku: str, *, within: Connection
) -> Any:
    """Set on hand and/or the low-water mark."""
    return ledger().set_stock(
        actor, store_id, sku, on_hand=body.on_hand, low_water=body.low_water, within=within
    )


@command(
    bp,
    "/stores/<store_id>/stock/<sku>/adjust",
    Operation(
        "Add or take away units of a store's stock of a product",
        tags=("stock",),
        roles=("hq",),
        request=schemas.AdjustStock,
        response=schemas.StockLine,
        errors=("STORE_NOT_FOUND", "PRODUCT_NOT_FOUND"),
        parameters=_STOCK,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def adjust_stock(
    actor: Actor, body: schemas.AdjustStock, store_id: str, sku: str, *, within: Connection
) -> Any:
    """Add ``delta`` units on hand."""
    return ledger().adjust_stock(actor, store_id, sku, body.delta, within=within)


@query(
    bp,
    "/stores",
    Operation("List the stores", tags=("stores",), roles=READERS, response=schemas.StoreList),
)
def list_stores(actor: Actor) -> Any:
    """List the stores."""
    return {"stores": [_store_out(store) for store in ledger().list_stores(actor)]}


# --- tokens -----------------------------------------------------------------------------


def _token_out(token: dict[str, Any]) -> dict[str, Any]:
    return {"token_id": token["id"], **{k: v for k, v in token.items() if k != "id"}}


@query(
    bp,
    "/tokens",
    Operation(
        "List the API tokens with their staff display names",
        tags=("tokens",),
        roles=("hq",),
        response=schemas.TokenList,
    ),
)
def list_tokens(actor: Actor) -> Any:
    """Every token (never a secret)."""
    return {"tokens": [_token_out(t) for t in auth.list_tokens(runtime().engine)]}


@command(
    bp,
    "/tokens/<token_id>/name",
    Operation(
        "Set the staff display name of a token",
        'The console shows it ("SH01 · 张三"); events keep recording the token id only.',
        tags=("tokens",),
        roles=("hq",),
        request=schemas.TokenName,
        response=schemas.Token,
        errors=("TOKEN_NOT_FOUND",),
        parameters={"token_id": Param("The token's public id.")},
    ),
)
def rename_token(actor: Actor, body: schemas.TokenName, token_id: str) -> Any:
    """Name or unname a live token."""
    if not auth.rename_token(runtime().engine, token_id, body.name):
        raise errors.TokenNotFound(f"no live token {token_id[:40]!r}")
    wanted = token_id.removeprefix("tok_")
    token = next(t for t in auth.list_tokens(runtime().engine) if t["id"] == wanted)
    return _token_out(token)


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
        errors=("STORE_NOT_FOUND", "PRODUCT_NOT_FOUND"),
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def issue_cards(actor: Actor, body: schemas.IssueCards, *, within: Connection) -> Any:
    """Issue a batch of cards."""
    # One dump of the whole body: a call per card cost twice as much.
    cards = body.model_dump(include={"cards"}, exclude_none=True)["cards"]
    return ledger().issue_cards(actor, body.batch_ref, cards, active=body.active, within=within)


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
    """A card and its events, as the caller's role may read it (no holder data for stores);
    ``expired_by_date`` says when it is expired before its EXPIRED event is written."""
    return card_for(actor, dated(ledger().get_card(actor, number), datetime.now(UTC)))


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
        response=schemas.ValueState,
        errors=_USE_ERRORS
        + _CODE_ERRORS
        + SIGNATURE_ERRORS
        + _VALUE_ERRORS
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
        amount=body.amount,
        within=within,
    )


def _reasoned(name: str, summary: str) -> None:
    def view(actor: Actor, body: schemas.WithReason, number: str, *, within: Connection) -> Any:
        # Through administer: the action and its record (who, when) commit together.
        return ledger().administer(
            actor, name, number, reason=body.reason, reason_code=body.reason_code, within=within
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


# --- products and channels ------------------------------------------------------------


@command(
    bp,
    "/products",
    Operation(
        "Add a product to the catalogue",
        "A product fixes its cards' kind (pickup, stored_value, count), face value, "
        "currency and units; cards issued with its sku take them from it.",
        tags=("products",),
        roles=("hq",),
        request=schemas.CreateProduct,
        response=schemas.Product,
        status=201,
        errors=("PRODUCT_EXISTS",),
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def create_product(actor: Actor, body: schemas.CreateProduct, *, within: Connection) -> Any:
    """Add a product."""
    return ledger().create_product(
        actor,
        body.sku,
        body.name_zh,
        body.name_en,
        body.kind,
        face_value=body.face_value,
        currency=body.currency,
        units=body.units,
        within=within,
    )


@query(
    bp,
    "/products",
    Operation(
        "List the catalogue", tags=("products",), roles=READERS, response=schemas.ProductList
    ),
)
def list_products(actor: Actor) -> Any:
    """List the products."""
    return {"products": ledger().list_products(actor)}


@query(
    bp,
    "/products/<sku>",
    Operation(
        "A product of the catalogue",
        tags=("products",),
        roles=READERS,
        response=schemas.Product,
        errors=("PRODUCT_NOT_FOUND", "VALIDATION_FAILED"),
        parameters={"sku": Param("The product's SKU.", schemas.StoreId)},
    ),
)
def get_product(actor: Actor, sku: str) -> Any:
    """One product."""
    return ledger().get_product(actor, sku)


@command(
    bp,
    "/channels",
    Operation(
        "Create a sales channel",
        tags=("channels",),
        roles=("hq",),
        request=schemas.CreateChannel,
        response=schemas.Channel,
        status=201,
        errors=("CHANNEL_EXISTS",),
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def create_channel(actor: Actor, body: schemas.CreateChannel, *, within: Connection) -> Any:
    """Create a channel."""
    return ledger().create_channel(actor, body.channel_id, body.name, body.kind, within=within)


@query(
    bp,
    "/channels",
    Operation(
        "List the sales channels and what they hold",
        tags=("channels",),
        roles=("hq", "auditor"),
        response=schemas.ChannelList,
    ),
)
def list_channels(actor: Actor) -> Any:
    """List the channels with their allocations."""
    return {"channels": ledger().list_channels(actor)}


@command(
    bp,
    "/channels/<channel_id>/allocations",
    Operation(
        "Allocate cards of a product from the pool to a channel",
        "The pool: the product's cards in stock (inactive) that no channel holds yet. "
        "The price is the channel's sale price of one card from now on.",
        tags=("channels",),
        roles=("hq",),
        request=schemas.Allocate,
        response=schemas.Allocation,
        errors=("CHANNEL_NOT_FOUND", "PRODUCT_NOT_FOUND", "ALLOCATION_EXHAUSTED"),
        parameters={"channel_id": Param("The channel's id.", schemas.StoreId)},
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def allocate(actor: Actor, body: schemas.Allocate, channel_id: str, *, within: Connection) -> Any:
    """Allocate cards to a channel."""
    return ledger().allocate(actor, channel_id, body.sku, body.count, body.price, within=within)


# --- activation and value ----------------------------------------------------------------

_SALE_ERRORS = (
    "CHANNEL_NOT_FOUND",
    "ALLOCATION_EXHAUSTED",
    "STORE_NOT_FOUND",
    "STORE_NOT_ALLOWED",
)


@command(
    bp,
    "/cards/<number>/activate",
    Operation(
        "Activate (sell) a card",
        "The card leaves stock: from now on it can be used. Through a channel it sells "
        "from the channel's allocation at the channel's price; a value card opens with "
        "its balance.",
        tags=("cards",),
        roles=("hq", "store"),
        request=schemas.Activate,
        response=schemas.CardState,
        errors=_USE_ERRORS + _SALE_ERRORS,
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def activate(actor: Actor, body: schemas.Activate, number: str, *, within: Connection) -> Any:
    """Activate one card."""
    return ledger().activate(
        actor,
        number,
        channel_id=body.channel_id,
        price=body.price,
        store_id=body.store_id,
        within=within,
    )


@command(
    bp,
    "/activations",
    Operation(
        "Activate (sell) many cards in one transaction",
        "The listed card numbers, every card still in stock of a batch, or of a range of "
        "numbers; one ACTIVATED event each.",
        tags=("cards",),
        roles=("hq", "store"),
        request=schemas.ActivateCards,
        response=schemas.Activated,
        errors=_USE_ERRORS + _SALE_ERRORS,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def activate_cards(actor: Actor, body: schemas.ActivateCards, *, within: Connection) -> Any:
    """Activate a batch or range of cards."""
    return ledger().activate_cards(
        actor,
        numbers=body.card_numbers,
        batch_ref=body.batch_ref,
        first=body.first,
        last=body.last,
        channel_id=body.channel_id,
        price=body.price,
        store_id=body.store_id,
        within=within,
    )


@command(
    bp,
    "/cards/<number>/load",
    Operation(
        "Top up a stored-value card",
        tags=("value",),
        roles=("hq", "store"),
        request=schemas.Load,
        response=schemas.ValueState,
        errors=_USE_ERRORS + _VALUE_ERRORS + ("STORE_NOT_FOUND", "STORE_NOT_ALLOWED"),
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def load(actor: Actor, body: schemas.Load, number: str, *, within: Connection) -> Any:
    """Top up a card."""
    return ledger().load(actor, number, body.amount, store_id=body.store_id, within=within)


@command(
    bp,
    "/cards/<number>/refund",
    Operation(
        "Refund part or all of an earlier redemption",
        "At most what the redemption took, less what was refunded of it already.",
        tags=("value",),
        roles=("hq", "store"),
        request=schemas.Refund,
        response=schemas.ValueState,
        errors=_USE_ERRORS
        + _VALUE_ERRORS
        + ("REFUND_TOO_LARGE", "STORE_NOT_FOUND", "STORE_NOT_ALLOWED"),
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def refund(actor: Actor, body: schemas.Refund, number: str, *, within: Connection) -> Any:
    """Refund a redemption."""
    return ledger().refund(
        actor, number, body.refund_of, body.amount, store_id=body.store_id, within=within
    )


@command(
    bp,
    "/cards/<number>/adjust",
    Operation(
        "Adjust a balance (headquarters, with a reason)",
        tags=("value",),
        roles=("hq",),
        request=schemas.Adjust,
        response=schemas.ValueState,
        errors=_USE_ERRORS + _VALUE_ERRORS,
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def adjust(actor: Actor, body: schemas.Adjust, number: str, *, within: Connection) -> Any:
    """Adjust a balance."""
    return ledger().adjust(
        actor, number, body.amount, body.reason, reason_code=body.reason_code, within=within
    )


@command(
    bp,
    "/cards/<number>/transfer-balance",
    Operation(
        "Move balance from this card to another",
        "One event on each card (BALANCE_SENT, BALANCE_RECEIVED), in one transaction.",
        tags=("value",),
        roles=("hq",),
        request=schemas.TransferBalance,
        response=schemas.BalanceTransferred,
        errors=_USE_ERRORS + _VALUE_ERRORS + _CODE_ERRORS,
        parameters=_CARD,
    ),
    unit_of_work=lambda: ledger().unit_of_work(),
)
def transfer_balance(
    actor: Actor, body: schemas.TransferBalance, number: str, *, within: Connection
) -> Any:
    """Move balance between two cards."""
    return ledger().transfer_balance(
        actor, number, body.redemption_code, body.to_card_number, body.amount, within=within
    )


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
