"""How often a card's public page was looked at, and by how many different clients.

Chinese 防伪 lookups show how often a code was checked and when first: a card checked
from many different phones while still unused is a sign that its QR code was copied.
The count is kept outside the log (``card_checks``, ``card_check_clients``) and never
holds an address: a client is a keyed hash of its address (IPv6 by /64, as the rate
limits count it) under the server secret and the UTC day, so the same client gets
another hash tomorrow, and a card keeps only today's hashes.

Where it is counted, and why there: the card page route counts every look *before* the
lookup cache answers (:mod:`portal.lookup_cache`: a 304 or a cached page is a look too),
and the page shows the numbers from :func:`checks_json`, fetched by the browser and never
cached — the cached page itself stays the same for every visitor.

    >>> from datetime import date
    >>> a = client_tag(bytes(32), date(2026, 12, 2), "2001:db8:1:2::5")
    >>> a == client_tag(bytes(32), date(2026, 12, 2), "2001:db8:1:2:aaaa::9"), len(a)
    (True, 32)
    >>> a == client_tag(bytes(32), date(2026, 12, 3), "2001:db8:1:2::5")
    False
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from anchoring.db import read_transaction, write_transaction
from ledger_service.domain.lifecycle import UNUSED, CardState
from ledger_service.schema import card_check_clients, card_checks, cards
from portal.security import client_key

COPIED_CLIENTS = 3
"""Different clients in one day at which an unused card's page warns of a copied QR code."""
_CONTEXT = b"cardtrail/lookup-client/v1\x00"


def client_tag(secret: bytes, day: date, address: str) -> str:
    """The keyed, daily hash that stands for a client: no address can be read back, and
    the same client's tags on two days cannot be linked without the secret."""
    message = _CONTEXT + day.isoformat().encode() + b"\x00" + client_key(address).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _insert(conn: Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)


def record_check(
    engine: Engine, number: str, secret: bytes, address: str, now: datetime | None = None
) -> None:
    """Count one look at the page of the card ``number`` (which exists) from ``address``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    tag = client_tag(secret, now.date(), address)
    with write_transaction(engine) as conn:
        counted = _insert(conn, card_checks).values(
            card_number=number, count=1, first_at=now, last_at=now
        )
        conn.execute(
            counted.on_conflict_do_update(
                index_elements=[card_checks.c.card_number],
                set_={"count": card_checks.c.count + 1, "last_at": now},
            )
        )
        # Yesterday's tags say nothing today (they rotate): keep no more than needed.
        conn.execute(
            sa.delete(card_check_clients).where(
                card_check_clients.c.card_number == number,
                card_check_clients.c.first_at < _day_start(now),
            )
        )
        client = _insert(conn, card_check_clients).values(
            card_number=number, client=tag, first_at=now
        )
        conn.execute(client.on_conflict_do_nothing())


@dataclass(frozen=True)
class CheckSummary:
    """What the card page says about its lookups."""

    count: int
    first_at: datetime | None
    clients_today: int
    unused: bool

    @property
    def copied(self) -> bool:
        """Many different clients looked at a card nobody has used: a copied QR code?"""
        return self.unused and self.clients_today >= COPIED_CLIENTS


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_summary(engine: Engine, number: str, now: datetime | None = None) -> CheckSummary | None:
    """The card's lookups so far; None when there is no such card."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with read_transaction(engine) as conn:
        row = conn.execute(
            sa.select(cards.c.state, card_checks.c.count.label("looks"), card_checks.c.first_at)
            .select_from(cards.outerjoin(card_checks, card_checks.c.card_number == cards.c.number))
            .where(cards.c.number == number)
        ).first()
        if row is None:
            return None
        clients = conn.execute(
            sa.select(sa.func.count()).where(
                card_check_clients.c.card_number == number,
                card_check_clients.c.first_at >= _day_start(now),
            )
        ).scalar_one()
    return CheckSummary(
        count=row.looks or 0,
        first_at=_utc(row.first_at),
        clients_today=clients,
        unused=CardState(row.state) in UNUSED,
    )


def checks_json(summary: CheckSummary) -> dict[str, Any]:
    """The counter as the page's script shows it, its sentences in the request's language."""
    text = ngettext(
        "This card has been checked %(num)d time.",
        "This card has been checked %(num)d times.",
        summary.count,
    )
    if summary.first_at is not None:
        text += " " + _(
            "First checked on %(when)s.", when=format_datetime(summary.first_at, "yyyy-MM-dd HH:mm")
        )
    warning = None
    if summary.copied:
        warning = _(
            "Checked today from %(num)d different devices although nobody has used it: its QR "
            "code may have been copied. Make sure you hold the card itself, and its code.",
            num=summary.clients_today,
        )
    return {
        "count": summary.count,
        "first_at": summary.first_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if summary.first_at
        else None,
        "clients_today": summary.clients_today,
        "copied_warning": summary.copied,
        "text": str(text),
        "warning": None if warning is None else str(warning),
    }
