"""The customer's pages (``/customer``): claim, check a code, ask for the goods, show the
pickup's rotating code at the counter, gift the card and accept a gift.

The pages are forms over the customer API (:mod:`ledger_service.customer_api`), driven by
``customer.js``; they hold no secret of their own. A pickup page's key and a gift link's
token travel in the URL's fragment (``#…``), which the browser does not send when it loads
the page; the page's script passes them to the API (and to the pickup's QR) in the
``X-CardTrail-Key`` header, never in a URL, which access logs and proxies keep.

Chinese first, English second, sized for a phone.
"""

from __future__ import annotations

import io
import re

import segno
from flask import Blueprint, Response, render_template, request

from ledger_service.actor import SYSTEM
from ledger_service.customer_api import KEY_HEADER
from ledger_service.errors import LedgerError
from ledger_service.runtime import ledger
from portal.lookups import pickup_choice
from portal.security import limit_public

bp = Blueprint("customer", __name__, url_prefix="/customer")

_PICKUP_KEY = re.compile(r"[0-9a-f]{32}")
QR_PREFIX = "CTPK"
"""What a pickup QR code starts with: ``CTPK:<pickup id>:<rotating code>``, which the
counter's scanner splits."""


def _stores() -> list[dict[str, str]]:
    return [
        {"id": s["id"], "name": s["name"], "region": s["region"]}
        for s in ledger().list_stores(SYSTEM)
    ]


@bp.get("/")
def home() -> str:
    """Claim a card, or check its code (卡密验证)."""
    return render_template("customer/home.html")


_SKU = re.compile(r"[A-Za-z0-9._-]{1,64}")


@bp.get("/pickup")
def pickup_request() -> str:
    """Ask for the goods: at a store on a day, or delivered. With ``?sku=`` (the card
    page links so), only the stores that have the product are offered, by city."""
    sku = request.args.get("sku", "")
    cities = pickup_choice(sku) if _SKU.fullmatch(sku) else None
    return render_template("customer/pickup_request.html", stores=_stores(), cities=cities)


@bp.get("/pickups/<pickup_id>")
def pickup_page(pickup_id: str) -> str:
    """The pickup's progress and, while it waits at the store, its rotating code and QR."""
    return render_template("customer/pickup.html", pickup_id=pickup_id[:40], stores=_stores())


@bp.get("/pickups/<pickup_id>/code.svg")
def pickup_qr(pickup_id: str) -> Response:
    """The QR of the pickup's code of this moment (the pickup's access key in the
    ``X-CardTrail-Key`` header)."""
    limit_public()
    key = request.headers.get(KEY_HEADER, "")
    if not _PICKUP_KEY.fullmatch(key):
        return Response(status=404)
    try:
        shown = ledger().pickup_progress(pickup_id[:40], key)
    except LedgerError:
        return Response(status=404)
    if "rotating_code" not in shown:
        return Response(status=404)
    out = io.BytesIO()
    payload = f"{QR_PREFIX}:{shown['pickup_id']}:{shown['rotating_code']}"
    segno.make(payload, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False)
    return Response(out.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


@bp.get("/gift")
def gift_offer() -> str:
    """Gift the card (转赠): a share link for the recipient."""
    return render_template("customer/gift.html")


@bp.get("/gifts/<offer_id>")
def gift_accept(offer_id: str) -> str:
    """The recipient's page of a share link: accept the card and see its new code once."""
    return render_template("customer/gift_accept.html", offer_id=offer_id[:40])
