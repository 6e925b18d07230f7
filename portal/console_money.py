"""The console's money actions on one card: activate (sell), load, refund and adjust.

Headquarters runs them from the card page; each goes through
:meth:`~ledger_service.service.Ledger.administer`, so it leaves its attributable record
beside its log event. Amounts are typed in yuan ("123.45") and kept in minor units.

    >>> minor_units("123.45"), minor_units("-5"), minor_units("0.5")
    (12345, -500, 50)
    >>> minor_units("1.234")
    Traceback (most recent call last):
    ...
    ValueError: at most two decimals
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, request
from werkzeug.wrappers import Response as BaseResponse

from ledger_service import errors
from portal.console import _administer, _page, bp, refusal, roles

_AMOUNT = re.compile(r"^([+-]?)(\d{1,12})(?:\.(\d{1,3}))?$")


def minor_units(text: str) -> int:
    """``text`` (an amount in major units, at most two decimals) in minor units."""
    match = _AMOUNT.match(text.strip().replace(",", ""))
    if match is None:
        raise ValueError("not an amount")
    sign, whole, cents = match.groups()
    if cents is not None and len(cents) > 2:
        raise ValueError("at most two decimals")
    value = int(whole) * 100 + int((cents or "").ljust(2, "0"))
    return -value if sign == "-" else value


MONEY_ACTIONS = ("activate", "load", "refund", "adjust")


@bp.post("/cards/<number>/money/<action>")
@roles("hq")
def money_action(number: str, action: str) -> BaseResponse:
    """Headquarters sells (activates), tops up, refunds or adjusts a card."""
    if action not in MONEY_ACTIONS:
        abort(404)
    try:
        arguments = _arguments(action)
    except ValueError as exc:
        problem = errors.ValidationFailed(str(exc))
        return _page("console/error.html", problem.status, message=refusal(problem))
    return _administer(action, number, **arguments)


def _arguments(action: str) -> dict[str, Any]:
    """The form's fields as the Ledger method's arguments (ValueError when malformed)."""
    form = request.form
    if action == "activate":
        channel = form.get("channel_id", "").strip() or None
        price = form.get("price", "").strip()
        return {"channel_id": channel, "price": minor_units(price) if price else None}
    amount = minor_units(form.get("amount", ""))
    if action == "refund":
        return {"refund_of": int(form.get("refund_of", "")), "amount": amount}
    if action == "adjust":
        return {
            "amount": amount,
            "reason": form.get("reason", "").strip(),
            "reason_code": form.get("reason_code", "unspecified"),
        }
    return {"amount": amount}
