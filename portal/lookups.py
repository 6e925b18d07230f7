"""Public lookups beside the card page: a card's lookup counter, the bottle serial lookup
and the stores a customer may collect a product at.

* ``GET /api/v1/public/cards/<number>/checks`` — how often the card page was looked at
  (:mod:`portal.lookup_counter`); never cached, the card page fetches it.
* ``GET /serial?serial=…`` and ``GET /api/v1/public/serials?serial=…`` — for which card
  (its commitment, never its number) and when a bottle serial was handed over, with the
  PICKUP_COMPLETED event and its inclusion proof against the latest anchored checkpoint;
  the page checks the proof and the root on chain in the browser (``serial.js``).
* ``GET /p/<sku>/stores`` and ``GET /api/v1/public/products/<sku>/stores`` — the stores
  with the product available, grouped by city, for the customer's pickup choice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import get_locale
from sqlalchemy.engine import Engine

from anchoring import checkpoints, merkle
from anchoring.db import read_transaction
from anchoring.errors import VerificationError
from anchoring.log import MerkleLog
from anchoring.types import AnchoredCheckpoint
from ledger_service import schemas
from ledger_service.domain.numbers import CardNumberError, normalize_card_number
from ledger_service.errors import CardNotFound, InvalidCardNumber, ValidationFailed
from ledger_service.openapi import Operation, Param, operation
from ledger_service.problems import from_ledger_error
from ledger_service.runtime import runtime
from ledger_service.schema import products, stores
from ledger_service.service import stock
from ledger_service.service.serials import normalize_serial, serial_leaves
from portal import lookup_counter
from portal.bundles import LATEST_CHECKPOINT_SELECTOR, ROOT_AT_SELECTOR
from portal.i18n import CHINESE
from portal.issuer_descriptor import configured_issuer
from portal.security import limit_public

bp = Blueprint("lookups", __name__, template_folder="templates")

_NO_STORE = {"Cache-Control": "no-store"}
_SERIAL_QUERY = {
    "serial": {
        "required": True,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": schemas.PRINTABLE_PATTERN,
        },
        "description": "The serial printed on the bottle (瓶码 / 物流码).",
    }
}


def _json(document: object, status: int = 200) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json", headers=_NO_STORE)


# --- the lookup counter ---------------------------------------------------------------------


@bp.get("/api/v1/public/cards/<number>/checks")
@operation(
    Operation(
        "How often a card's public page was looked at (public)",
        description="Counted outside the log, per look at the card page; clients are told "
        "apart by a keyed daily hash, never by address. `copied_warning`: many different "
        "clients today although the card is unused (a copied QR code?).",
        tags=("public",),
        errors=("INVALID_CARD_NUMBER", "CARD_NOT_FOUND", "RATE_LIMITED"),
        parameters={
            "number": Param(
                "The card number (spaces, dashes and lower case are accepted).",
                schemas.PathCardNumber,
            )
        },
    )
)
def card_checks(number: str) -> Response:
    """The card's lookup counter, in the request's language."""
    try:
        number = normalize_card_number(number)
    except CardNumberError as exc:
        return from_ledger_error(InvalidCardNumber(str(exc)))
    limit_public()
    # This process's own looks are stored before the count is read.
    lookup_counter.app_counter(current_app).flush()
    summary = lookup_counter.check_summary(runtime().engine, number)
    if summary is None:
        return from_ledger_error(CardNotFound("no card has this number"))
    return _json(lookup_counter.checks_json(summary))


# --- bottle serials -------------------------------------------------------------------------


@dataclass(frozen=True)
class Handover:
    """One handover of a serial as the public sees it: the event, never the card number."""

    leaf_index: int
    event: dict[str, Any]
    proof: list[str] | None
    store_name: str | None
    server_checked: bool
    """This server recomputed the proof to the root it recorded as anchored."""

    def to_json(self) -> dict[str, Any]:
        """The handover in the serial JSON."""
        return {
            "leaf_index": self.leaf_index,
            "card": self.event.get("card"),
            "occurred_at": self.event.get("occurred_at"),
            "store_id": self.event.get("store_id"),
            "store_name": self.store_name,
            "pending": self.proof is None,
            "event": self.event,
            "inclusion_proof": self.proof,
        }


def serial_handovers(
    engine: Engine, serial: str
) -> tuple[list[Handover], AnchoredCheckpoint | None]:
    """The handovers of ``serial``, each proven against the latest anchored checkpoint
    (the same proofs as the card's bundle, :func:`portal.bundles.build_bundle`); events
    after it are pending, without a proof."""
    with read_transaction(engine) as conn:
        leaves = serial_leaves(conn, serial)
        anchored = checkpoints.latest_anchored(conn)
        log = MerkleLog(conn)
        size = anchored.checkpoint.tree_size if anchored else 0
        indices = [leaf.leaf_index for leaf in leaves]
        inputs = log.leaf_inputs(indices) if indices else {}
        proven = [i for i in indices if i < size]
        proofs = log.inclusion_proofs(proven, size) if proven else {}
        events = {i: json.loads(inputs[i]) for i in indices}
        ids = sorted({e["store_id"] for e in events.values() if e.get("store_id")})
        names = dict(
            conn.execute(sa.select(stores.c.id, stores.c.name).where(stores.c.id.in_(ids))).all()
        )
    out = []
    for index in indices:
        proof = proofs.get(index)
        checked = False
        if proof is not None and anchored is not None:
            try:
                merkle.verify_inclusion(
                    index,
                    size,
                    merkle.hash_leaf(inputs[index]),
                    proof.hashes,
                    anchored.checkpoint.root,
                )
                checked = True
            except VerificationError:
                checked = False
        store_id = events[index].get("store_id")
        out.append(
            Handover(
                index,
                events[index],
                [h.hex() for h in proof.hashes] if proof else None,
                names.get(store_id) if store_id else None,
                checked,
            )
        )
    return out, anchored


def _serial_arg() -> str:
    try:
        return normalize_serial(request.args.get("serial", ""))
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None


def serial_json(serial: str, handovers: list[Handover], anchored: AnchoredCheckpoint | None) -> Any:
    """The serial lookup's JSON document."""
    return {
        "serial": serial,
        "checkpoint": anchored.to_json() if anchored else None,
        "handovers": [h.to_json() for h in handovers],
    }


@bp.get("/api/v1/public/serials")
@operation(
    Operation(
        "For which card and when a bottle serial was handed over (public)",
        description="Every PICKUP_COMPLETED event whose `data.serials` holds the serial, "
        "oldest first, with its inclusion proof against the latest anchored checkpoint "
        "(`null` and `pending` for events after it). The card is named by its commitment "
        "(the event's `card`), never by number. More than one handover: the serial was "
        "used twice. None: this ledger never handed it over.",
        tags=("public",),
        errors=("VALIDATION_FAILED", "RATE_LIMITED"),
        query=_SERIAL_QUERY,
    )
)
def serial_lookup_json() -> Response:
    """The serial lookup as JSON."""
    try:
        serial = _serial_arg()
    except ValidationFailed as exc:
        return from_ledger_error(exc)
    limit_public()
    handovers, anchored = serial_handovers(runtime().engine, serial)
    return _json(serial_json(serial, handovers, anchored))


@bp.get("/serial")
def serial_page() -> tuple[str, int, dict[str, str]]:
    """Enter a bottle serial, see the handover and check its proof in the browser."""
    text = request.args.get("serial", "")
    if not text.strip():
        return render_template("public/serial.html", serial=None, error=None, value=""), 200, {}
    try:
        serial = _serial_arg()
    except ValidationFailed as exc:
        page = render_template("public/serial.html", serial=None, error=exc.detail, value=text)
        return page, 422, _NO_STORE
    limit_public()
    handovers, anchored = serial_handovers(runtime().engine, serial)
    pinned = configured_issuer(runtime().settings)
    page = render_template(
        "public/serial.html",
        serial=serial,
        value=serial,
        error=None,
        handovers=handovers,
        checkpoint=anchored,
        document=serial_json(serial, handovers, anchored),
        rpc_url=runtime().settings.browser_rpc_url,
        selector=ROOT_AT_SELECTOR,
        latest_selector=LATEST_CHECKPOINT_SELECTOR,
        pinned_contract=pinned.contract if pinned else "",
        pinned_chain_id=pinned.chain_id if pinned else "",
    )
    return page, 200, _NO_STORE


# --- where to collect a product ---------------------------------------------------------------


def _product_name(sku: str) -> str | None:
    with read_transaction(runtime().engine) as conn:
        row = conn.execute(
            sa.select(products.c.name_zh, products.c.name_en).where(products.c.sku == sku)
        ).first()
    if row is None:
        return None
    return str(row.name_zh if str(get_locale()) == CHINESE else row.name_en)


def pickup_choice(sku: str) -> list[dict[str, Any]]:
    """The stores with ``sku`` available, grouped by city (:func:`stock.by_city`)."""
    with read_transaction(runtime().engine) as conn:
        return stock.by_city(stock.pickup_stores(conn, sku))


@bp.get("/api/v1/public/products/<sku>/stores")
@operation(
    Operation(
        "The stores a product can be collected at, by city (public)",
        description="Stores with at least one unit available (on hand, not reserved by "
        "other pickups), grouped by city; a store without stock is not listed. An unknown "
        "SKU gets an empty list.",
        tags=("public",),
        errors=("RATE_LIMITED",),
        parameters={"sku": Param("The product's SKU.")},
    )
)
def pickup_stores_json(sku: str) -> Response:
    """The pickup stores of a product as JSON."""
    limit_public()
    return _json({"sku": sku, "cities": pickup_choice(sku)})


@bp.get("/p/<sku>/stores")
def pickup_stores_page(sku: str) -> tuple[str, int, dict[str, str]]:
    """The pickup stores of a product, by city (the customer's pickup page includes the
    same list: ``public/_pickup_stores.html``)."""
    limit_public()
    cities = pickup_choice(sku)
    name = _product_name(sku)
    page = render_template("public/pickup_stores.html", sku=sku, product=name, cities=cities)
    return page, 200 if name else 404, _NO_STORE
