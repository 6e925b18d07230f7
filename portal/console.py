"""The merchants' console (``/console``): headquarters dashboards and store counters.

Staff sign in with an API token (``cardtrail token create``); the session cookie (signed,
HttpOnly, SameSite=Lax, Secure outside development) keeps a random session id, never the
token. The session itself lives on the server (:func:`ledger_service.auth.open_session`)
and every request checks it: signing out, its hours running out or revoking its token
ends it, for every copy of the cookie. Every POST carries the session's CSRF token.
Headquarters sees every store and may issue cards, block, unblock and void them and unlock
codes; store staff see and act only for their own store; auditors read.

Views only render: the numbers come from :mod:`portal.dashboard` and the books
(:mod:`ledger_service.books_sql`), and every change goes through
:class:`ledger_service.service.Ledger` — headquarters' card actions through
``Ledger.administer``, which records who did what and when.
"""

from __future__ import annotations

import csv
import hmac
import io
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from werkzeug.wrappers import Response as BaseResponse

from anchoring.db import read_transaction
from ledger_service import books, books_csv, books_sql, errors
from ledger_service.actor import Actor
from ledger_service.auth import (
    authenticate,
    close_session,
    open_session,
    session_actor,
    staff_label,
    token_name,
)
from ledger_service.card_views import PERSONAL_READERS, card_for, dated
from ledger_service.csv_cells import safe_row
from ledger_service.domain.numbers import CardNumberError, format_card_number, normalize_card_number
from ledger_service.events import REASON_CODES
from ledger_service.imports import ImportFileError, read_rows
from ledger_service.runtime import ledger, runtime
from portal import dashboard
from portal.number_problems import not_a_card_number

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

SESSION_KEY = "console"
CSRF_KEY = "console_csrf"
SESSION_HOURS = 12
"""A console session ends this many hours after sign-in, whatever the browser keeps."""
DASHBOARD_DAYS = (7, 14, 30)
REMINDER_DAYS = (7, 30, 90)
"""How far ahead the reminder list of expiring cards can look, in days."""
BOOKS_BY = ("product", "channel")
_URL_NUMBER = re.compile(r"/c/([^/?#\s]+)")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")

F = TypeVar("F", bound=Callable[..., Any])


# --- pure helpers ----------------------------------------------------------------------


def scanned_number(text: str) -> str:
    """A card number from whatever a scanner or a person typed: the number with any
    separators, or a card page URL (``…/c/<number>``). Raises CardNumberError."""
    match = _URL_NUMBER.search(text)
    raw = match.group(1) if match else text
    return normalize_card_number(_NOT_ALNUM.sub("", raw[:200]))


def issued_csv(result: dict[str, Any]) -> str:
    """The new cards of an issuance as CSV: number, redemption code, row key, leaf index.

    Every cell is spreadsheet-safe (:mod:`ledger_service.csv_cells`): the row keys come
    from whoever wrote the uploaded file."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["card_number", "display_number", "redemption_code", "row_key", "leaf_index"])
    for card in result["cards"]:
        writer.writerow(
            safe_row(
                [
                    card["card_number"],
                    format_card_number(card["card_number"]),
                    card["redemption_code"],
                    card.get("row_key", ""),
                    card["leaf_index"],
                ]
            )
        )
    return out.getvalue()


# --- session, CSRF and roles ------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get(CSRF_KEY)
    if token is None:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "staff_label": staff_label,
        "money": books.money,
        "action_word": lambda action: str(ACTION_WORDS.get(action, action)),
    }


ACTION_WORDS = {
    "block": lazy_gettext("Blocked"),
    "unblock": lazy_gettext("Unblocked"),
    "void": lazy_gettext("Voided"),
    "unlock_code": lazy_gettext("Code unlocked"),
    "activate": lazy_gettext("Sold (activated)"),
    "load": lazy_gettext("Topped up"),
    "refund": lazy_gettext("Refunded"),
    "adjust": lazy_gettext("Balance adjusted"),
}
"""The administrative actions (``admin_actions.action``) in words."""


def _session_id() -> str | None:
    data = session.get(SESSION_KEY)
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


def _live_actor() -> Actor | None:
    """The signed-in actor, if the server still holds the session and its token is live."""
    sid = _session_id()
    return session_actor(runtime().engine, sid) if sid else None


@bp.before_request
def _guard() -> BaseResponse | None:
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        expected = session.get(CSRF_KEY)
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return _page(
                "console/error.html",
                400,
                message=_("The form has expired. Reload the page and try again."),
            )
    if request.endpoint in ("console.login", "console.index"):
        return None
    actor = _live_actor()
    if actor is None:
        session.pop(SESSION_KEY, None)
        return redirect(url_for(".login", next=request.full_path.rstrip("?")), 303)
    g.console_actor = actor
    # The staff member's display name, for the header only ("SH01 · 张三").
    g.console_name = token_name(runtime().engine, actor.id)
    return None


def actor() -> Actor:
    """The signed-in actor of this console request."""
    signed_in: Actor = g.console_actor
    return signed_in


def roles(*allowed: str) -> Callable[[F], F]:
    """Let only ``allowed`` roles into a view; the others get a 403 page."""

    def wrap(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if actor().role not in allowed:
                message = _("Your role cannot open this page.")
                return _page("console/error.html", 403, message=message)
            return view(*args, **kwargs)

        return cast("F", checked)

    return wrap


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    response = Response(render_template(template, **context), status=status)
    # Console pages show card numbers, codes and merchant data: never cache them.
    response.headers["Cache-Control"] = "no-store"
    return response


def _home_for(who: Actor) -> str:
    return url_for(".counter") if who.role == "store" else url_for(".dashboard_view")


def refusal(exc: errors.LedgerError) -> str:
    """A refusal for people: its title in their language, then the ledger's detail."""
    return str(_("%(title)s: %(detail)s", title=_(exc.title), detail=exc.detail))


def _now() -> datetime:
    return datetime.now(UTC)


# --- sign in and out --------------------------------------------------------------------


@bp.get("/")
def index() -> BaseResponse:
    """Send a visitor to their home: the counter (store staff) or the dashboard."""
    who = _live_actor()
    return redirect(_home_for(who) if who else url_for(".login"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    """Sign in with an API token; the cookie holds a session id, never the token."""
    next_url = request.values.get("next", "")
    if request.method == "GET":
        return _page("console/login.html", next_url=next_url, error=None)
    rt = runtime()
    token = request.form.get("token", "").strip()
    try:
        who = authenticate(rt.engine, rt.secret_key, f"Bearer {token}")
    except errors.Unauthorized:
        return _page(
            "console/login.html",
            401,
            next_url=next_url,
            error=_("That token is unknown or revoked."),
        )
    # A fresh session at sign-in: nothing an attacker planted before survives it.
    previous = _session_id()
    if previous:
        close_session(rt.engine, previous)
    session.clear()
    sid = open_session(rt.engine, who.id, timedelta(hours=SESSION_HOURS))
    session[SESSION_KEY] = {"sid": sid}
    csrf_token()
    safe_next = next_url if next_url.startswith("/console/") and "//" not in next_url else ""
    return redirect(safe_next or _home_for(who), 303)


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the session on the server, so that no copy of its cookie works any more."""
    sid = _session_id()
    if sid:
        close_session(runtime().engine, sid)
    session.clear()
    return redirect(url_for(".login"), 303)


# --- headquarters and auditors ------------------------------------------------------------


@bp.get("/dashboard")
@roles("hq", "auditor")
def dashboard_view() -> BaseResponse:
    """Issued, picked up and redeemed per store and day; pickups, expiring cards, anomalies."""
    days = request.args.get("days", 14, type=int)
    days = days if days in DASHBOARD_DAYS else 14
    now = _now()
    with read_transaction(runtime().engine) as conn:
        names = dashboard.store_names(conn)
        act = dashboard.activity(conn, now, days, zone=runtime().settings.zone)
        context: dict[str, Any] = {
            "names": names,
            "activity": act,
            "stores": act.by_store(names),
            "chart": dashboard.daily_chart(act),
            "rates": dashboard.pickup_rates(conn),
            "expiring": dashboard.expiring_cards(conn, now),
            "anomalies": dashboard.anomaly_report(conn, now),
            "locked": dashboard.locked_codes(conn, now),
            "states": dashboard.state_counts(conn),
            "low_stock": dashboard.low_stock(conn),
            "books": books_sql.figures(conn, now, redemptions=False),
            "close_today": books_sql.daily_close(conn, now, 1, runtime().settings.zone),
        }
    return _page("console/dashboard.html", days=days, day_choices=DASHBOARD_DAYS, **context)


@bp.get("/cards")
@roles("hq", "auditor")
def card_lookup() -> BaseResponse:
    """Everything about one card: fields, state, code lock, pickups and every event."""
    text = request.args.get("number", "").strip()
    if not text:
        return _page("console/card.html", card=None, error=None, value="")
    try:
        number = scanned_number(text)
        card = card_for(actor(), dated(ledger().get_card(actor(), number), _now()))
    except CardNumberError as exc:
        return _page("console/card.html", 422, card=None, error=not_a_card_number(exc), value=text)
    except errors.LedgerError as exc:
        return _page("console/card.html", exc.status, card=None, error=refusal(exc), value=text)
    with read_transaction(runtime().engine) as conn:
        names = dashboard.store_names(conn)
    personal = actor().role in PERSONAL_READERS
    return _page(
        "console/card.html",
        card=card,
        names=names,
        personal=personal,
        error=None,
        value=number,
        reason_codes=REASON_CODES,
        record=ledger().admin_record(actor(), number=number, limit=50),
        done=ADMIN_DONE.get(request.args.get("done", "")),
    )


ADMIN_DONE = {
    "block": lazy_gettext("The card is blocked."),
    "unblock": lazy_gettext("The card is unblocked."),
    "void": lazy_gettext("The card is voided."),
    "unlock_code": lazy_gettext("The code lock was lifted."),
    "activate": lazy_gettext("The card is sold: it can be used now."),
    "load": lazy_gettext("The card is topped up."),
    "refund": lazy_gettext("The refund is back on the card."),
    "adjust": lazy_gettext("The balance is adjusted."),
}
"""What the card page says after each of headquarters' actions."""


@bp.post("/cards/<number>/unlock")
@roles("hq")
def unlock(number: str) -> BaseResponse:
    """Headquarters lifts a card's wrong-code lock (recorded as its action)."""
    return _administer("unlock_code", number)


@bp.post("/cards/<number>/admin/<action>")
@roles("hq")
def card_action(number: str, action: str) -> BaseResponse:
    """Headquarters blocks, unblocks or voids a card, with a reason code and text."""
    if action not in ("block", "unblock", "void"):
        abort(404)
    return _administer(
        action,
        number,
        reason=request.form.get("reason", "").strip(),
        reason_code=request.form.get("reason_code", "unspecified"),
    )


def _administer(action: str, number: str, **arguments: Any) -> BaseResponse:
    """Run one of headquarters' actions through the Ledger (which records it); back to
    the card's page, or the refusal in words."""
    try:
        done = ledger().administer(actor(), action, number, **arguments)
    except errors.LedgerError as exc:
        return _page("console/error.html", exc.status, message=refusal(exc))
    return redirect(url_for(".card_lookup", number=done["card_number"], done=action), 303)


@bp.get("/actions")
@roles("hq", "auditor")
def actions() -> BaseResponse:
    """The record of administrative actions: who (token), when, what, on which card."""
    return _page("console/actions.html", record=ledger().admin_record(actor(), limit=500))


# --- the books ----------------------------------------------------------------------------


def _csv(data: bytes, filename: str) -> BaseResponse:
    response = Response(data, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _wants_csv() -> bool:
    return request.args.get("format") == "csv"


@bp.get("/books")
@roles("hq", "auditor")
def books_view() -> BaseResponse:
    """Liability, breakage, sales and redemptions: in all, by product and by channel."""
    by = request.args.get("by", "product")
    by = by if by in BOOKS_BY else "product"
    now = _now()
    with read_transaction(runtime().engine) as conn:
        total = books_sql.figures(conn, now)
        rows = books_sql.figures(conn, now, by=by)
    if _wants_csv():
        return _csv(books_csv.books_csv(rows, by), f"books-by-{by}-{now:%Y%m%d}.csv")
    return _page("console/books.html", total=total, rows=rows, by=by, choices=BOOKS_BY)


@bp.get("/close")
@roles("hq", "auditor", "store")
def daily_close() -> BaseResponse:
    """The daily close (日结) per store and business day; store staff see their own."""
    days = request.args.get("days", 7, type=int)
    days = days if days in DASHBOARD_DAYS else 7
    store_id = actor().store_id if actor().role == "store" else None
    now = _now()
    with read_transaction(runtime().engine) as conn:
        names = dashboard.store_names(conn)
        rows = books_sql.daily_close(conn, now, days, runtime().settings.zone, store_id)
    if _wants_csv():
        return _csv(books_csv.daily_close_csv(rows, names), f"daily-close-{now:%Y%m%d}.csv")
    return _page(
        "console/close.html", rows=rows, names=names, days=days, day_choices=DASHBOARD_DAYS
    )


@bp.get("/reminders")
@roles("hq", "auditor")
def reminders() -> BaseResponse:
    """Sold, unused cards expiring within the chosen days: to remind their holders."""
    days = request.args.get("days", 30, type=int)
    days = days if days in REMINDER_DAYS else 30
    now = _now()
    personal = actor().role in PERSONAL_READERS
    csv_wanted = _wants_csv()
    with read_transaction(runtime().engine) as conn:
        total, cards = books_sql.expiring_within(conn, now, days, None if csv_wanted else 500)
    if csv_wanted:
        data = books_csv.reminders_csv(cards, runtime().settings.zone, personal)
        return _csv(data, f"expiring-within-{days}-days-{now:%Y%m%d}.csv")
    return _page(
        "console/reminders.html",
        total=total,
        cards=cards,
        days=days,
        day_choices=REMINDER_DAYS,
        personal=personal,
    )


@bp.get("/deliveries")
@roles("hq", "auditor")
def deliveries() -> BaseResponse:
    """The worklist of deliveries not yet completed, oldest request first."""
    with read_transaction(runtime().engine) as conn:
        open_ = books_sql.open_deliveries(conn)
    personal = actor().role in PERSONAL_READERS
    return _page("console/deliveries.html", deliveries=open_, personal=personal)


@bp.route("/issue", methods=["GET", "POST"])
@roles("hq")
def issue() -> BaseResponse:
    """Issue a batch of cards from a CSV (the columns of ``cardtrail import-cards``, read by
    the same code); the answer is a CSV with the new codes, shown this once."""
    if request.method == "GET":
        return _page("console/issue.html", error=None, problems=(), batch_ref="")
    batch_ref = request.form.get("batch_ref", "").strip()
    upload = request.files.get("file")
    lines: list[int] = []
    try:
        if upload is None or not upload.filename:
            raise errors.ValidationFailed(_("choose a CSV file"))
        try:
            text = upload.read().decode("utf-8-sig")
            rows = list(read_rows(io.StringIO(text, newline="")))
        except UnicodeDecodeError:
            raise errors.ValidationFailed(_("the CSV must be UTF-8")) from None
        except (ImportFileError, csv.Error) as exc:
            raise errors.ValidationFailed(str(exc)) from None
        lines = [line for line, _ in rows]
        result = ledger().issue_cards(actor(), batch_ref, [card for _, card in rows])
    except errors.LedgerError as exc:
        problems = [
            {"line": lines[p["index"]] if p["index"] < len(lines) else None, "detail": p["detail"]}
            for p in exc.extra.get("errors", ())[:50]
        ]
        return _page(
            "console/issue.html",
            exc.status,
            error=refusal(exc),
            problems=problems,
            batch_ref=batch_ref,
        )
    safe_ref = re.sub(r"[^A-Za-z0-9_.-]", "_", batch_ref)[:60] or "batch"
    response = Response(issued_csv(result), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="issued-{safe_ref}.csv"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Cards-Issued"] = str(len(result["cards"]))
    response.headers["X-Cards-Skipped"] = str(len(result["skipped"]))
    return response


# --- store counter ------------------------------------------------------------------------


UNSIGNED_REFUSED = lazy_gettext(
    "This deployment requires every store action to be signed by a registered store device. "
    "The console cannot sign: redeem and hand over pickups with the store client "
    "(cardtrail store-client) on a device whose key headquarters has registered."
)


def _unsigned_refused() -> BaseResponse | None:
    """The counter's answer when store actions need a device signature (None: go ahead).

    The Ledger refuses unsigned store commands itself; refusing here first spares the
    card's code an attempt and tells the staff what to use instead.
    """
    if runtime().settings.require_store_signatures:
        return _counter(403, error=str(UNSIGNED_REFUSED))
    return None


def _counter(status: int = 200, **context: Any) -> BaseResponse:
    who = actor()
    store_id = who.store_id
    assert store_id is not None, "only store staff reach the counter (roles('store'))"
    now = _now()
    with read_transaction(runtime().engine) as conn:
        names = dashboard.store_names(conn)
        pending = dashboard.pending_pickups(conn, store_id)
        today = dashboard.activity(
            conn, now, 1, store_id=who.store_id, zone=runtime().settings.zone
        )
    context.setdefault("result", None)
    context.setdefault("error", None)
    context.setdefault("card", None)
    context.setdefault("number", "")
    context.setdefault("notice", None)
    return _page(
        "console/counter.html",
        status,
        signatures_required=runtime().settings.require_store_signatures,
        store_name=names.get(store_id, store_id),
        pending=pending,
        today=today,
        **context,
    )


@bp.get("/counter")
@roles("store")
def counter() -> BaseResponse:
    """The store's counter: redeem a card, hand over pickups."""
    done = {"ready": _("Pickup marked ready."), "complete": _("Pickup handed over.")}
    return _counter(notice=done.get(request.args.get("done", "")))


@bp.post("/counter/redeem")
@roles("store")
def counter_redeem() -> BaseResponse:
    """Redeem at this store. Without a code, show the card and ask for its code."""
    text = request.form.get("number", "")
    code = request.form.get("code", "").strip()
    try:
        number = scanned_number(text)
    except CardNumberError as exc:
        return _counter(422, error=not_a_card_number(exc))
    if not code:
        try:
            card = card_for(actor(), dated(ledger().get_card(actor(), number), _now()))
        except errors.LedgerError as exc:
            return _counter(exc.status, error=refusal(exc))
        return _counter(card=card, number=number)
    refused = _unsigned_refused()
    if refused is not None:
        return refused
    try:
        result = ledger().redeem(actor(), number, code)
    except errors.LedgerError as exc:
        left = exc.extra.get("attempts_left")
        detail = refusal(exc)
        if left is not None:
            detail += " " + ngettext("(%(num)d attempt left)", "(%(num)d attempts left)", left)
        return _counter(exc.status, error=detail)
    return _counter(result=result)


def counter_credential(code: str) -> str:
    """What the customer showed: six digits are the pickup page's rotating code, anything
    else is taken as the card's code.

    >>> counter_credential("493 021"), counter_credential("7K3M-Q9ZD-X2HF")
    ('rotating_code', 'card_code')
    """
    return "rotating_code" if code.replace(" ", "").isdigit() else "card_code"


@bp.post("/pickups/<pickup_id>/<step>")
@roles("store")
def pickup_step(pickup_id: str, step: str) -> BaseResponse:
    """Mark one of this store's pickups ready, or hand it over against the customer's
    code (the pickup page's rotating code, or the card's code) with the bottle serials."""
    if step not in ("ready", "complete"):
        abort(404)
    refused = _unsigned_refused()
    if refused is not None:
        return refused
    try:
        if step == "ready":
            ledger().pickup_ready(actor(), pickup_id)
        else:
            code = request.form.get("code", "").strip()
            if not code:
                # Nothing shown is no attempt: refused before the card's count.
                raise errors.ValidationFailed(
                    "the goods are handed over against the customer's code"
                )
            ledger().pickup_complete(
                actor(),
                pickup_id,
                credential=counter_credential(code),
                code=code,
                serials=request.form.get("serials", "").replace(",", " ").split(),
            )
    except errors.LedgerError as exc:
        return _counter(exc.status, error=refusal(exc))
    return redirect(url_for(".counter", done=step), 303)
