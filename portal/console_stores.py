"""The console's stores and stock pages (headquarters edits, auditors read).

* ``/console/stores`` — every store with its address, city, hours and coordinates, and
  every stock line (on hand, reserved, available, low-water mark); headquarters adds and
  describes stores and sets stock here, line by line or from a CSV file;
* ``/console/stock.csv`` — the stock as CSV (UTF-8 with a byte-order mark, cells
  neutralised): edit it in a spreadsheet and upload it again;
* ``/console/tokens`` — the API tokens with their staff display names, which
  headquarters sets here (the console shows "SH01 · 张三"; the log keeps token ids).

The routes join :data:`portal.console.bp` (its sign-in, CSRF check and roles); every
change goes through the :class:`~ledger_service.service.Ledger`.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.auth import list_tokens, rename_token
from ledger_service.runtime import ledger, runtime
from ledger_service.service import stock
from ledger_service.service.store_commands import PLACE_FIELDS
from portal.console import _page, actor, bp, refusal, roles

_DONE = {
    "token": lambda: _("Name saved."),
    "store": lambda: _("Store saved."),
    "stock": lambda: _("Stock saved."),
    "import": lambda: _("Stock file applied."),
}


def _stores_page(status: int = 200, **context: Any) -> BaseResponse:
    with read_transaction(runtime().engine) as conn:
        lines = stock.stock_lines(conn)
    context.setdefault("error", None)
    done = _DONE.get(request.args.get("done", ""))
    return _page(
        "console/stores.html",
        status,
        stores=ledger().list_stores(actor()),
        lines=lines,
        place_fields=PLACE_FIELDS,
        notice=done() if done else None,
        **context,
    )


@bp.get("/stores")
@roles("hq", "auditor")
def stores_view() -> BaseResponse:
    """Stores, where to find them, and their stock."""
    return _stores_page()


def place_form(form: Any) -> dict[str, Any]:
    """The place fields of a store form: empty text clears a field; coordinates are numbers.

    Raises VALIDATION_FAILED for coordinates that are not numbers."""
    out: dict[str, Any] = {}
    for name in PLACE_FIELDS:
        text = str(form.get(name, "")).strip()
        if name in ("latitude", "longitude"):
            try:
                out[name] = float(text) if text else None
            except ValueError:
                raise errors.ValidationFailed(_("%(field)s must be a number", field=name)) from None
        else:
            out[name] = text or None
    return out


@bp.post("/stores")
@roles("hq")
def store_save() -> BaseResponse:
    """Add a store, or describe an existing one (the same form)."""
    form = request.form
    store_id = form.get("store_id", "").strip()
    try:
        place = place_form(form)
        if form.get("existing") == "1":
            changes = {"name": form.get("name", ""), "region": form.get("region", ""), **place}
            ledger().update_store(actor(), store_id, changes)
        else:
            present = {k: v for k, v in place.items() if v is not None}
            ledger().create_store(
                actor(), store_id, form.get("name", ""), form.get("region", ""), **present
            )
    except errors.LedgerError as exc:
        return _stores_page(exc.status, error=refusal(exc))
    return redirect(url_for(".stores_view", done="store"), 303)


def _count(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise errors.ValidationFailed(_("stock counts are whole numbers"))
    return int(text)


@bp.post("/stock")
@roles("hq")
def stock_save() -> BaseResponse:
    """Set a line's units on hand and low-water mark (empty: keep)."""
    form = request.form
    try:
        ledger().set_stock(
            actor(),
            form.get("store_id", "").strip(),
            form.get("sku", "").strip(),
            on_hand=_count(form.get("on_hand", "")),
            low_water=_count(form.get("low_water", "")),
        )
    except errors.LedgerError as exc:
        return _stores_page(exc.status, error=refusal(exc))
    return redirect(url_for(".stores_view", done="stock"), 303)


@bp.post("/stock/import")
@roles("hq")
def stock_import() -> BaseResponse:
    """Apply a stock CSV: every line, or none of them."""
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise errors.ValidationFailed(_("choose a CSV file"))
        try:
            rows = list(stock.read_stock_csv(upload.read().decode("utf-8-sig")))
        except UnicodeDecodeError:
            raise errors.ValidationFailed(_("the CSV must be UTF-8")) from None
        except ValueError as exc:
            raise errors.ValidationFailed(str(exc)) from None
        ledger().import_stock(actor(), rows)
    except errors.LedgerError as exc:
        return _stores_page(exc.status, error=refusal(exc))
    return redirect(url_for(".stores_view", done="import"), 303)


@bp.get("/stock.csv")
@roles("hq", "auditor")
def stock_export() -> Response:
    """The stock as a spreadsheet-safe CSV (UTF-8 with BOM)."""
    with read_transaction(runtime().engine) as conn:
        text = stock.stock_csv(stock.stock_lines(conn))
    response = Response(text.encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="stock.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/tokens")
@roles("hq")
def tokens_view() -> BaseResponse:
    """The tokens and who holds them (never a secret)."""
    done = _DONE.get(request.args.get("done", ""))
    return _page(
        "console/tokens.html",
        tokens=list_tokens(runtime().engine),
        error=None,
        notice=done() if done else None,
    )


@bp.post("/tokens/<token_id>/name")
@roles("hq")
def token_rename(token_id: str) -> BaseResponse:
    """Set or clear the display name of a live token."""
    try:
        renamed = rename_token(runtime().engine, token_id, request.form.get("name"))
    except ValueError as exc:
        return _page(
            "console/tokens.html", 422, tokens=list_tokens(runtime().engine), error=str(exc)
        )
    if not renamed:
        missing = errors.TokenNotFound(f"no live token {token_id[:40]!r}")
        return _page("console/error.html", missing.status, message=refusal(missing))
    return redirect(url_for(".tokens_view", done="token"), 303)
