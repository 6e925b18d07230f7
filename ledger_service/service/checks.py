"""The checks a command makes on its caller and arguments before it opens a transaction.

A failed check raises the typed refusal (FORBIDDEN, INVALID_CARD_NUMBER,
VALIDATION_FAILED) and nothing is written: no transaction has begun yet.

    >>> from ledger_service.actor import Actor
    >>> card_number("2345-6789-abcd-efgh-8") == card_number("23456789ABCDEFGH8")
    True
    >>> require_role(Actor("auditor", "tok"), WRITERS)
    Traceback (most recent call last):
    ...
    ledger_service.errors.Forbidden: the auditor role may not do this
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.numbers import CardNumberError, normalize_card_number

WRITERS = ("hq", "system")
"""Roles that may change cards and stores."""
READERS = ("hq", "store", "auditor", "system")
"""Roles that may read cards and stores."""


def require_role(actor: Actor, roles: Iterable[str]) -> None:
    """Refuse with FORBIDDEN unless ``actor`` has one of ``roles``."""
    if actor.role not in roles:
        raise errors.Forbidden(f"the {actor.role} role may not do this")


def card_number(text: object) -> str:
    """The normalised card number, or INVALID_CARD_NUMBER (a typo never reaches the database)."""
    try:
        return normalize_card_number(text)
    except CardNumberError as exc:
        raise errors.InvalidCardNumber(str(exc)) from None


def valid(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a domain check and turn its ValueError into VALIDATION_FAILED."""
    try:
        return check(*args, **kwargs)
    except ValueError as exc:
        raise errors.ValidationFailed(str(exc)) from None


def check_reason(text: object) -> str:
    """An optional free-text reason (block, unblock, void): empty when none is given."""
    if text is None or text == "":
        return ""
    return str(valid(check_text, text, "reason"))
