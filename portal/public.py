"""The consumers' blueprint: card pages, the in-browser verifier and the public card JSON.

Anyone holding a card number may see its story and verify it; nobody learns anything
about a number they do not hold: every kind of "no" gets the same not-found answer.
Lookups are rate-limited per client address, overall and per card (:mod:`portal.security`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import segno
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from anchoring.bundle import Balance
from ledger_service.devices import KeyRegistry
from ledger_service.domain.numbers import (
    CardNumberError,
    format_card_number,
    normalize_card_number,
)
from ledger_service.errors import CardNotFound, InvalidCardNumber, RateLimited
from ledger_service.openapi import Operation, Param, operation
from ledger_service.problems import from_ledger_error
from ledger_service.runtime import runtime
from ledger_service.schemas import PathCardNumber
from portal import card_render, i18n, lookup_cache, lookup_counter, models
from portal.bundles import (
    ANCHORED_TOPIC,
    LATEST_CHECKPOINT_SELECTOR,
    NOT_FOUND,
    ROOT_AT_SELECTOR,
    CardPage,
    CardProofs,
    load_card,
    load_proofs,
)
from portal.issuer_descriptor import configured_issuer
from portal.number_problems import not_a_card_number, number_problem
from portal.security import client_address, limit_public

bp = Blueprint(
    "public",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

_NUMBER = {
    "number": Param("The card number (spaces, dashes and lower case are accepted).", PathCardNumber)
}
_NO_STORE = {"Cache-Control": "no-store"}


@bp.app_template_filter("card_number")
def _card_number_filter(number: str) -> str:
    return format_card_number(number)


@bp.app_template_global("balance_text")
def balance_text(balance: Balance, value: int) -> str:
    """A balance as the card page shows it: minor units with two decimals and the card's
    currency (as its face value), or a count card's uses (verify.js's formatValue)."""
    if balance.kind == "count":
        return str(ngettext("%(num)d use", "%(num)d uses", value))
    sign = "−" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole}.{cents:02d}" + (f" {balance.currency}" if balance.currency else "")


@bp.errorhandler(RateLimited)
def _rate_limited(error: RateLimited) -> Response:
    if request.path.startswith("/api/"):
        return from_ledger_error(error)
    retry = str(error.extra.get("retry_after", 60))
    body = render_template("public/rate_limited.html", retry_after=retry)
    return Response(body, status=429, headers={"Retry-After": retry})


def issuer_name() -> str:
    """The issuer as the page names it: the configured descriptor's name in the request's
    language (its real name, which verifiers pin), else ISSUER_NAME, else "the merchant"."""
    pinned = configured_issuer(runtime().settings)
    if pinned is not None:
        return pinned.name_zh if str(get_locale()) == i18n.CHINESE else pinned.name_en
    return str(current_app.config.get("ISSUER_NAME") or _("the merchant"))


def _load(number: str) -> CardPage:
    rt = runtime()
    return load_card(rt.engine, number, issuer_name(), rt.settings.zone)


def _not_found(message: str | None = None) -> tuple[str, int, dict[str, str]]:
    page = render_template("public/not_found.html", status=NOT_FOUND, message=message)
    return page, 404, _NO_STORE


@bp.get("/")
def home() -> str:
    """The front page: one field, the card number."""
    return render_template("public/home.html", error=None, value="")


@bp.get("/lookup")
def lookup() -> BaseResponse | tuple[str, int]:
    """The home page's form: normalise the number and go to its page, or say what is wrong."""
    limit_public()
    text = request.args.get("number", "")[:100]
    try:
        number = normalize_card_number(text)
    except CardNumberError as exc:
        return render_template("public/home.html", error=number_problem(exc), value=text), 422
    return redirect(url_for(".card", number=number), 303)


@bp.get("/c/<number>")
def card(number: str) -> Response | tuple[str, int, dict[str, str]]:
    """A card's story, its status and the in-browser verifier."""
    try:
        number = normalize_card_number(number)
    except CardNumberError as exc:
        return _not_found(not_a_card_number(exc))
    limit_public(number)
    pinned = configured_issuer(runtime().settings)
    settings = (
        current_app.config.get("ISSUER_NAME", ""),
        runtime().settings.browser_rpc_url,
        runtime().settings.timezone,
        # The page carries the pin: a new descriptor is a new page.
        pinned.chain_id if pinned else "",
        pinned.contract if pinned else "",
        pinned.serves if pinned else "",
        f"{pinned.name_zh}\x00{pinned.name_en}" if pinned else "",
    )
    variant = (
        lookup_cache.request_language(),
        lookup_cache.templates_digest(current_app, "public/"),
        *(str(value) for value in settings),
    )
    try:
        response = _cached(number, "page", variant, _load, _render_card, "text/html")
    except CardNotFound:
        return _not_found()
    # Counted here, past the cache: a 304 or a cached page is a look at the card too. The
    # page fetches the counter (portal.lookups.card_checks), so the cached page stays one.
    lookup_counter.app_counter(current_app).record(number, client_address())
    return _vary_by_language(response)


def _render_card(page: CardPage, head: lookup_cache.CardHead) -> bytes:
    number = page.history.card_number
    # The browser checks each device signature itself; which keys belong to which store
    # it can only take from this server, and the page says so.
    signing_stores = {e.store_id for e in page.timeline if e.signer and e.store_id}
    published = KeyRegistry(runtime().engine).public_keys(signing_stores)
    device_keys = {store: [k["address"] for k in keys] for store, keys in published.items()}
    # Which deployments a signature may be made for is the server's word too.
    deployments = card_render.signing_deployments(current_app, runtime().engine, head.deployment)
    # The verifier checks the bundle against the configured issuer, never against the
    # contract the bundle (built from this server's database) names.
    pinned = configured_issuer(runtime().settings)
    body = render_template(
        "public/card.html",
        page=page,
        device_keys=json.dumps(device_keys, separators=(",", ":")),
        signing_deployments=deployments,
        bundle_url=url_for(".bundle", number=number),
        json_url=url_for(".card_json", number=number),
        qr_url=url_for(".qr", number=number),
        rpc_url=runtime().settings.browser_rpc_url,
        selector=ROOT_AT_SELECTOR,
        latest_selector=LATEST_CHECKPOINT_SELECTOR,
        anchored_topic=ANCHORED_TOPIC,
        js_messages=card_render.js_messages_json(str(get_locale())),
        pinned_contract=pinned.contract if pinned else "",
        pinned_chain_id=pinned.chain_id if pinned else "",
        pinned_serves=pinned.serves if pinned else "",
        **card_render.bound_gettext(),
    )
    return body.encode()


def _vary_by_language(response: Response) -> Response:
    # What chooses the language (portal.i18n), also on a 304: caches must key on it.
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def _load_proofs(number: str) -> CardProofs:
    return load_proofs(runtime().engine, number)


_Loaded = TypeVar("_Loaded", CardPage, CardProofs)


def _cached(
    number: str,
    kind: str,
    variant: tuple[str, ...],
    load: Callable[[str], _Loaded],
    build: Callable[[_Loaded, lookup_cache.CardHead], bytes],
    mimetype: str,
) -> Response:
    """The ``kind`` answer about the card ``number``: 304 when the client's copy is current,
    else from this process's cache, else ``build`` it from what ``load`` reads.

    The ETag comes from the card's head (:func:`portal.lookup_cache.read_card_head`), read
    before anything is built; raises CardNotFound when there is no such card.
    """
    head = lookup_cache.read_card_head(runtime().engine, number)
    # A card whose date passed is shown expired before its EXPIRED event exists.
    past = "past-date" if head.past_date(datetime.now(UTC)) else ""
    tag = lookup_cache.etag(kind, head, *variant, past)
    max_age = int(current_app.config.get("PUBLIC_LOOKUP_MAX_AGE", 0))
    headers = {"Cache-Control": lookup_cache.cache_control(max_age)}
    # If-None-Match compares weakly (RFC 9110): a proxy may have weakened the tag.
    if request.if_none_match.contains_weak(tag):
        response = Response(status=304, headers=headers)
    else:
        cache = lookup_cache.app_cache(current_app)
        body = cache.get(tag)
        if body is None:
            loaded = load(number)
            body = build(loaded, head)
            # An event or checkpoint recorded since the head was read is in the answer: it
            # is served, but not kept under a tag that does not describe it.
            if head.built(loaded):
                cache.put(tag, body)
        response = Response(body, mimetype=mimetype, headers=headers)
    response.set_etag(tag)
    return response


def public_url(number: str) -> str:
    """The card page's absolute URL: the configured base URL (CARDTRAIL_PUBLIC_BASE_URL),
    never the request's Host, which the client chooses."""
    return runtime().settings.base_url + url_for(".card", number=number)


def qr_svg(url: str, title: str) -> bytes:
    """The SVG of a QR code of ``url``."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, title=title)
    return out.getvalue()


@bp.get("/c/<number>/qr.svg")
def qr(number: str) -> Response | tuple[str, int, dict[str, str]]:
    """A QR code of the card page's URL, to print on cards and bottles.

    Cached publicly for a day: it depends on nothing the request says but the number.
    """
    try:
        number = normalize_card_number(number)
    except CardNumberError:
        return _not_found()
    limit_public()
    return Response(
        qr_svg(public_url(number), f"CardTrail {number}"),
        mimetype="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _json_bytes(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _public_number(number: str) -> str:
    try:
        number = normalize_card_number(number)
    except CardNumberError as exc:
        raise InvalidCardNumber(str(exc)) from None
    limit_public(number)
    return number


@bp.get("/api/v1/public/cards/<number>")
@operation(
    Operation(
        "A card's status and events (public)",
        description="What anyone holding the card number may see: the status and every "
        "event, with store names and whether it is anchored yet; no holder data. Unknown "
        "numbers all get the same CARD_NOT_FOUND.",
        tags=("public",),
        response=models.PublicCard,
        errors=("INVALID_CARD_NUMBER", "CARD_NOT_FOUND", "RATE_LIMITED", "LOG_INCONSISTENT"),
        parameters=_NUMBER,
    )
)
def card_json(number: str) -> Response:
    """The public card JSON."""
    language = lookup_cache.request_language()
    response = _cached(
        _public_number(number),
        "card",
        (language,),
        _load,
        lambda page, _head: _json_bytes(page.public_json()),
        "application/json",
    )
    return _vary_by_language(response) if language else response


@bp.get("/api/v1/public/cards/<number>/bundle")
@operation(
    Operation(
        "A card's proof bundle (public)",
        description="The card's events with inclusion proofs against the latest anchored "
        "checkpoint, newer events under `pending` (docs/bundle-format.md). Verify it with "
        "`cardtrail verify BUNDLE.json --rpc URL`. `?download=1` sends it as a file. "
        "LOG_INCONSISTENT (500): the server's stored log failed its own consistency check "
        "and no proof can be served; auditors should run `cardtrail audit`.",
        tags=("public",),
        response=models.ProofBundle,
        errors=("INVALID_CARD_NUMBER", "CARD_NOT_FOUND", "RATE_LIMITED", "LOG_INCONSISTENT"),
        parameters=_NUMBER,
        query={
            "download": {
                "required": False,
                "schema": {"type": "string", "enum": ["1"]},
                "description": "Send as an attachment.",
            }
        },
    )
)
def bundle(number: str) -> Response:
    """The card's proof bundle."""
    number = _public_number(number)
    # The bundle needs the proofs only: not the page's words nor its store names.
    response = _cached(
        number,
        "bundle",
        (),
        _load_proofs,
        lambda proofs, _head: _json_bytes(proofs.bundle),
        "application/json",
    )
    if request.args.get("download") == "1":
        response.headers["Content-Disposition"] = (
            f'attachment; filename="cardtrail-bundle-{number}.json"'
        )
    return response
