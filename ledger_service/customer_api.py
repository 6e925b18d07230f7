"""The customer's own API (``/api/v1/customer``): a card's holder acts with its number and
code, without any merchant token.

Claim, 卡密验证 (check a code without spending it), request a pickup (a store and a day, or
a delivery address), cancel or move it, follow it, and gift the card by a share link (and
withdraw the offer while nobody has accepted it).
The card's code is the authority: a wrong one counts toward the card's lockout exactly as
at a redemption (:mod:`ledger_service.service.traces`). Every route is rate-limited per
client address and per card (or pickup, or gift) before anything else runs
(``CUSTOMER_RATE_LIMIT_PER_CLIENT``, ``CUSTOMER_RATE_LIMIT_PER_CARD``).

A pickup page's key and a gift link's token open their GET routes in the
``X-CardTrail-Key`` header (:data:`KEY_HEADER`), never in the URL, which access logs and
proxies keep; a request that still puts one in the query string is refused. A gift's
accept carries its token in the JSON body.

Every POST needs an ``Idempotency-Key``, as on the merchant API: a retried gift accept
gets the same new code back. The answers are stored under the card (pickup, gift) and
the key, encrypted under a key derived from the request's own bytes, which hold the
card's code or the gift's token: nobody without them can read or replay an answer.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from ledger_service import errors, idempotency, problems, schemas
from ledger_service.actor import CUSTOMER
from ledger_service.domain.numbers import CardNumberError, normalize_card_number
from ledger_service.endpoint import JSON, check_path, dumps
from ledger_service.openapi import Operation, Param, operation
from ledger_service.ratelimit import client_key
from ledger_service.runtime import ledger, runtime

bp = Blueprint("customer_api", __name__, url_prefix="/api/v1/customer")

CUSTOMER_PAGES = "/customer"
"""Where the customer's pages live (portal.customer); answers link to them."""

_CARD = {
    "number": Param(
        "The card number (separators and lower case are accepted).", schemas.PathCardNumber
    )
}
_PICKUP = {"id": Param("The pickup id returned when the pickup was requested.")}
_GIFT = {"id": Param("The gift offer id of the share link.")}
KEY_HEADER = "X-CardTrail-Key"
"""The header that carries a pickup page's key or a gift link's token (from the page URL's
fragment) to the API."""
_URL_KEYS = ("key", "token")
"""Where those went before, in the query string: refused now."""
_USE = (
    "INVALID_CARD_NUMBER",
    "CARD_NOT_FOUND",
    "CARD_ALREADY_USED",
    "CARD_VOIDED",
    "CARD_EXPIRED",
    "CARD_BLOCKED",
    "INVALID_TRANSITION",
    "INVALID_CODE",
    "CODE_LOCKED",
    "RATE_LIMITED",
    "VALIDATION_FAILED",
)
_PICKUP_ERRORS = (
    "PICKUP_NOT_FOUND",
    "INVALID_TRANSITION",
    "INVALID_CODE",
    "CODE_LOCKED",
    "RATE_LIMITED",
    "VALIDATION_FAILED",
)


def limit_client() -> None:
    """Count one customer request of this client; past its budget, RATE_LIMITED."""
    limits = runtime().limits
    if limits.customer_per_client is not None:
        limits.customer_per_client.hit("client:" + client_key(request.remote_addr or "unknown"))


def limit_subject(subject: str) -> None:
    """Count one customer request on ``subject`` (a card, pickup or gift) from any client;
    past its budget, RATE_LIMITED."""
    limits = runtime().limits
    if limits.customer_per_card is not None:
        limits.customer_per_card.hit("subject:" + subject)


def _subject(path: dict[str, Any]) -> str:
    """What a request is about: the normalised card number, else the pickup or gift id."""
    if "number" in path:
        try:
            return normalize_card_number(path["number"])
        except CardNumberError as exc:
            raise errors.InvalidCardNumber(str(exc)) from None
    return str(path["id"])


def _admit(path: dict[str, Any]) -> str:
    """Count the request against its client's and its subject's budgets (RATE_LIMITED past
    either) and check its path; returns the subject (:func:`_subject`)."""
    limit_client()
    check_path(path)
    subject = _subject(path)
    limit_subject(subject)
    return subject


def key_header(description: str, pattern: str) -> dict[str, dict[str, Any]]:
    """The OpenAPI description of the :data:`KEY_HEADER` a route is opened with."""
    return {
        KEY_HEADER: {
            "required": True,
            "schema": {"type": "string", "pattern": pattern},
            "description": description + " It comes from the page URL's fragment; never "
            "put it in the URL, which logs keep.",
        }
    }


def customer_view(
    rule: str, spec: Operation
) -> Callable[[Callable[[str, str], Any]], Callable[..., Response]]:
    """Register a GET view ``fn(id, key) -> JSON document`` of a pickup or gift, opened by
    the :data:`KEY_HEADER` that ``spec.headers`` describes: rate limit and path are checked
    first; a key in the query string is refused (VALIDATION_FAILED) before it is read."""

    def register(fn: Callable[[str, str], Any]) -> Callable[..., Response]:
        @functools.wraps(fn)
        def view(id: str) -> Response:
            _admit({"id": id})
            _refuse_url_keys()
            return _response(200, dumps(fn(id, request.headers.get(KEY_HEADER, ""))))

        bp.add_url_rule(rule, view_func=operation(spec)(view), methods=["GET"])
        return view

    return register


def _refuse_url_keys() -> None:
    """Refuse a key in the query string, so that a client that puts it there learns to move
    it to the header rather than meet PICKUP_NOT_FOUND."""
    found = [name for name in _URL_KEYS if name in request.args]
    if found:
        raise errors.ValidationFailed(
            f"the key goes in the {KEY_HEADER} header, not in the URL",
            errors=[
                {"loc": f"query.{name}", "message": f"not allowed: use {KEY_HEADER}"}
                for name in found
            ],
        )


def customer_command(
    rule: str, spec: Operation
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register a POST view ``fn(body, within=conn, **path) -> JSON document``: rate limit,
    path, idempotency key and body are checked in that order before it runs, in one
    write transaction with its idempotency record."""
    spec = Operation(**{**spec.__dict__, "idempotent": True})

    def register(fn: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(fn)
        def view(**path: Any) -> Response:
            subject = _admit(path)
            key = idempotency.check_key(request.headers.get(idempotency.HEADER))
            raw = request.get_data(cache=False)
            body = schemas.parse(spec.request, raw)

            def answer(conn: Any) -> tuple[int, bytes]:
                try:
                    return spec.status, dumps(fn(body, within=conn, **path))
                except errors.LedgerError as exc:
                    doc = problems.problem_document(
                        exc.status, exc.code, exc.title, exc.detail, **exc.extra
                    )
                    return exc.status, dumps(doc)

            store = runtime().idempotency
            outcome = store.run_in(
                ("cu:" + subject)[:32],
                hashlib.sha256(raw).hexdigest(),
                key,
                store.fingerprint(request.method, request.path, raw),
                ledger().unit_of_work,
                answer,
            )
            return _response(outcome.status, outcome.body, outcome.replayed)

        bp.add_url_rule(rule, view_func=operation(spec)(view), methods=["POST"])
        return view

    return register


def _response(status: int, body: bytes, replayed: bool = False) -> Response:
    mimetype = JSON if status < 400 else problems.PROBLEM_JSON
    response = Response(body, status=status, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    if status >= 400:
        retry_after = json.loads(body).get("retry_after")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _page(pickup_id: str, access_key: str) -> str:
    return f"{CUSTOMER_PAGES}/pickups/{pickup_id}#{access_key}"


# --- the card ---------------------------------------------------------------------------


@customer_command(
    "/cards/<number>/claim",
    Operation(
        "Claim a card with its code",
        tags=("customer",),
        request=schemas.CustomerClaim,
        response=schemas.CardState,
        errors=_USE,
        parameters=_CARD,
    ),
)
def claim(body: schemas.CustomerClaim, number: str, *, within: Any) -> Any:
    """Claim a card."""
    return ledger().claim_with_code(
        CUSTOMER, number, body.redemption_code, body.holder_ref, within=within
    )


@customer_command(
    "/cards/<number>/verify",
    Operation(
        "Check a card's code without using the card (卡密验证)",
        "It counts as an attempt: a wrong code toward the card's lockout.",
        tags=("customer",),
        request=schemas.CardCode,
        response=schemas.CodeCheck,
        errors=_USE,
        parameters=_CARD,
    ),
)
def verify(body: schemas.CardCode, number: str, *, within: Any) -> Any:
    """Check a code."""
    return ledger().verify_code(CUSTOMER, number, body.redemption_code, within=within)


@customer_command(
    "/cards/<number>/pickups",
    Operation(
        "Request a pickup: a store and a day, or a delivery address",
        "A bearer card needs no claim first. The answer's `access_key` opens the pickup's "
        "page (`page_url`) with the rotating code to show at the counter.",
        tags=("customer",),
        request=schemas.CustomerPickupRequest,
        response=schemas.CustomerPickup,
        status=201,
        errors=_USE + ("STORE_NOT_ALLOWED", "STORE_NOT_FOUND"),
        parameters=_CARD,
    ),
)
def request_pickup(
    body: schemas.CustomerStorePickup | schemas.CustomerDeliveryPickup,
    number: str,
    *,
    within: Any,
) -> Any:
    """Request a pickup."""
    if isinstance(body, schemas.CustomerStorePickup):
        done = ledger().request_pickup(
            CUSTOMER,
            number,
            "store",
            body.redemption_code,
            store_id=body.store_id,
            day=body.day,
            within=within,
        )
    else:
        done = ledger().request_pickup(
            CUSTOMER, number, "delivery", body.redemption_code, address=body.address, within=within
        )
    return {**done, "page_url": _page(done["pickup_id"], done["access_key"])}


@customer_command(
    "/cards/<number>/pickup",
    Operation(
        "The card's pickup under way, with the key to its page",
        "For a customer who lost the pickup's page: the card's code opens it again (it "
        "counts as an attempt). `pickup` is null when no pickup is under way.",
        tags=("customer",),
        request=schemas.CardCode,
        response=schemas.CurrentPickup,
        errors=_USE,
        parameters=_CARD,
    ),
)
def current_pickup(body: schemas.CardCode, number: str, *, within: Any) -> Any:
    """The card's pickup under way."""
    checked = ledger().verify_code(CUSTOMER, number, body.redemption_code, within=within)
    row = ledger().open_pickup(CUSTOMER, number)
    pickup = None
    if row is not None:
        access_key = ledger().pickup_access_key(row.id)
        pickup = {
            "pickup_id": row.id,
            "state": row.state,
            "access_key": access_key,
            "page_url": _page(row.id, access_key),
        }
    return {**checked, "pickup": pickup}


@customer_command(
    "/cards/<number>/gift",
    Operation(
        "Gift the card (转赠): open a share link",
        "The card cannot be used until the recipient accepts (it gets a new code) or the "
        "offer ends after 24 hours and the card returns to its giver.",
        tags=("customer",),
        request=schemas.CardCode,
        response=schemas.GiftOffered,
        status=201,
        errors=_USE,
        parameters=_CARD,
    ),
)
def offer_gift(body: schemas.CardCode, number: str, *, within: Any) -> Any:
    """Offer a gift."""
    offer = ledger().offer_gift(CUSTOMER, number, body.redemption_code, within=within)
    share = f"{CUSTOMER_PAGES}/gifts/{offer['offer_id']}#{offer['token']}"
    return {**offer, "share_url": runtime().settings.base_url + share}


@customer_command(
    "/cards/<number>/gift/withdraw",
    Operation(
        "Withdraw the card's open gift offer (撤回转赠)",
        "The giver, with the card's code (a wrong one counts toward the lockout), takes "
        "the card back to its state before the offer; the share link stops working at "
        "once (its accept answers GIFT_OFFER_WITHDRAWN). An offer already past its end "
        "has lapsed: the answer's `offer_state` is then `returned`. Asked again after the "
        "offer closed, it answers that closing again with no second event. "
        "INVALID_TRANSITION when the gift was accepted or never made.",
        tags=("customer",),
        request=schemas.CardCode,
        response=schemas.GiftWithdrawn,
        errors=_USE,
        parameters=_CARD,
    ),
)
def withdraw_gift(body: schemas.CardCode, number: str, *, within: Any) -> Any:
    """Withdraw a gift offer."""
    return ledger().withdraw_gift(CUSTOMER, number, body.redemption_code, within=within)


# --- pickups ----------------------------------------------------------------------------


@customer_view(
    "/pickups/<id>",
    Operation(
        "Follow a pickup; while it waits at the store, its rotating code",
        "The code changes every 30 seconds (`code_seconds_left`); staff check it at the "
        "counter. A wrong key answers PICKUP_NOT_FOUND, as an unknown pickup does.",
        tags=("customer",),
        response=schemas.PickupProgress,
        errors=("PICKUP_NOT_FOUND", "RATE_LIMITED", "VALIDATION_FAILED"),
        parameters=_PICKUP,
        headers=key_header("The pickup's access key.", "^[0-9a-f]{32}$"),
    ),
)
def pickup_progress(id: str, key: str) -> Any:
    """A pickup's progress and rotating code."""
    return ledger().pickup_progress(id, key)


@customer_command(
    "/pickups/<id>/cancel",
    Operation(
        "Cancel the pickup before it is ready or shipped",
        "The card returns to its state before the request.",
        tags=("customer",),
        request=schemas.CardCode,
        response=schemas.Pickup,
        errors=_PICKUP_ERRORS,
        parameters=_PICKUP,
    ),
)
def cancel_pickup(body: schemas.CardCode, id: str, *, within: Any) -> Any:
    """Cancel a pickup."""
    return ledger().cancel_pickup(CUSTOMER, id, body.redemption_code, within=within)


@customer_command(
    "/pickups/<id>/move",
    Operation(
        "Move the store pickup to another store or day before it is ready",
        tags=("customer",),
        request=schemas.CustomerPickupMove,
        response=schemas.Pickup,
        errors=_PICKUP_ERRORS + ("STORE_NOT_ALLOWED", "STORE_NOT_FOUND"),
        parameters=_PICKUP,
    ),
)
def move_pickup(body: schemas.CustomerPickupMove, id: str, *, within: Any) -> Any:
    """Move a pickup."""
    return ledger().move_pickup(
        CUSTOMER, id, body.store_id, body.day, body.redemption_code, within=within
    )


# --- gifts ------------------------------------------------------------------------------


@customer_view(
    "/gifts/<id>",
    Operation(
        "A gift offer as its share link shows it",
        "An offer past its end is returned to the giver first. A wrong token answers "
        "GIFT_NOT_FOUND, as an unknown offer does.",
        tags=("customer",),
        response=schemas.GiftView,
        errors=("GIFT_NOT_FOUND", "RATE_LIMITED", "VALIDATION_FAILED"),
        parameters=_GIFT,
        headers=key_header("The share link's token.", "^[A-Za-z0-9_-]{1,64}$"),
    ),
)
def gift_view(id: str, key: str) -> Any:
    """A gift offer."""
    return ledger().gift_offer(id, key)


@customer_command(
    "/gifts/<id>/accept",
    Operation(
        "Accept a gift: the card becomes the recipient's, with a new code",
        "The new code is in this answer only (and in its idempotent replay); the giver's "
        "code stops working. GIFT_OFFER_WITHDRAWN once the giver withdrew the offer, "
        "GIFT_OFFER_EXPIRED once it ended or was accepted.",
        tags=("customer",),
        request=schemas.GiftAccept,
        response=schemas.GiftAccepted,
        errors=("GIFT_NOT_FOUND", "GIFT_OFFER_EXPIRED", "GIFT_OFFER_WITHDRAWN", "RATE_LIMITED")
        + ("VALIDATION_FAILED", "CARD_BLOCKED", "CARD_VOIDED", "INVALID_TRANSITION"),
        parameters=_GIFT,
    ),
)
def accept_gift(body: schemas.GiftAccept, id: str, *, within: Any) -> Any:
    """Accept a gift."""
    return ledger().accept_gift(CUSTOMER, id, body.token, body.holder_ref, within=within)
