"""Bottle serials (瓶码 / 物流码) handed over with pickups, for the public serial lookup.

At handover the counter scans the serials of the goods, and they go into the
PICKUP_COMPLETED event's ``data.serials`` (the pickup commands write the event). The log
is the proof; this module keeps an index beside it, so that a serial finds its event:

* :func:`record_serials` — call it in the completion's transaction, right after the
  event is appended, with the event's leaf index and the same list of serials;
* :func:`serial_leaves` — the leaves that handed a serial over, oldest first.

A serial may show up in more than one event: that is exactly what a lookup should
reveal (a copied serial), so it is recorded, not refused.

    >>> normalize_serial("  MT2026-000123 ")
    'MT2026-000123'
    >>> normalize_serials(["A1", " A1", "B2"])
    ['A1', 'B2']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_service import errors
from ledger_service.schema import serials

MAX_SERIAL = 128
"""The longest serial kept (the column's length)."""
MAX_SERIALS = 200
"""The most serials one handover may carry."""
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")


def normalize_serial(text: object) -> str:
    """A serial as it is stored and looked up: surrounding white space removed, upper
    case (as the counter scans it into the handover event,
    :func:`ledger_service.domain.pickups.check_serials`); 1 to :data:`MAX_SERIAL`
    printable characters (raises ValueError otherwise)."""
    if not isinstance(text, str):
        raise ValueError("a serial must be a string")
    serial = text.strip().upper()
    if not serial or len(serial) > MAX_SERIAL or not _PRINTABLE.fullmatch(serial):
        raise ValueError(f"a serial is 1 to {MAX_SERIAL} printable characters")
    return serial


def normalize_serials(texts: Iterable[object]) -> list[str]:
    """Serials as an event should carry them: each normalised, repeats dropped, order kept
    (raises ValueError for a malformed one or more than :data:`MAX_SERIALS`)."""
    out = list(dict.fromkeys(normalize_serial(text) for text in texts))
    if len(out) > MAX_SERIALS:
        raise ValueError(f"at most {MAX_SERIALS} serials per handover")
    return out


def record_serials(
    conn: Connection, leaf_index: int, card_number: str, serials_: Iterable[str]
) -> None:
    """Index the serials of the PICKUP_COMPLETED event at ``leaf_index`` (card
    ``card_number``) for the public lookup, on ``conn``: the completion's transaction.

    Pass the event's ``data.serials`` as logged (normalise them first with
    :func:`normalize_serials`, so that the index and the log agree). Raises
    VALIDATION_FAILED for a malformed serial; an empty list records nothing.
    """
    try:
        values = normalize_serials(serials_)
    except ValueError as exc:
        raise errors.ValidationFailed(str(exc)) from None
    if values:
        conn.execute(
            sa.insert(serials),
            [{"serial": s, "leaf_index": leaf_index, "card_number": card_number} for s in values],
        )


@dataclass(frozen=True)
class SerialLeaf:
    """One handover of a serial: the event's leaf and its card (never shown publicly)."""

    leaf_index: int
    card_number: str


def serial_leaves(conn: Connection, serial: str) -> list[SerialLeaf]:
    """The events that handed ``serial`` over, oldest first (none: never handed over)."""
    rows = conn.execute(
        sa.select(serials.c.leaf_index, serials.c.card_number)
        .where(serials.c.serial == serial)
        .order_by(serials.c.leaf_index)
    )
    return [SerialLeaf(row.leaf_index, row.card_number) for row in rows]
