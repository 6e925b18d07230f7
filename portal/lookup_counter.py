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
cached — the cached page itself stays the same for every visitor. Each process keeps its
looks for up to a second and writes them in one transaction (:class:`LookCounter`), so a
cached page costs no write of its own.

    >>> from datetime import date
    >>> a = client_tag(bytes(32), date(2026, 12, 2), "2001:db8:1:2::5")
    >>> a == client_tag(bytes(32), date(2026, 12, 2), "2001:db8:1:2:aaaa::9"), len(a)
    (True, 32)
    >>> a == client_tag(bytes(32), date(2026, 12, 3), "2001:db8:1:2::5")
    False
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from anchoring.db import read_transaction, write_transaction
from ledger_service.domain.lifecycle import UNUSED, CardState
from ledger_service.runtime import runtime_of
from ledger_service.schema import card_check_clients, card_checks, cards
from portal.security import client_key

log = logging.getLogger(__name__)

COPIED_CLIENTS = 3
"""Different clients in one day at which an unused card's page warns of a copied QR code."""
DEFAULT_COUNT_SECONDS = 1.0
"""How long a process keeps looks before writing them (``PUBLIC_LOOKUP_COUNT_SECONDS``)."""
_CONTEXT = b"cardtrail/lookup-client/v1\x00"
_EXTENSION = "cardtrail.lookup_counter"
_apps_lock = threading.Lock()


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


@dataclass
class Looks:
    """The looks at one card not yet written: how many, when, and each client's first."""

    count: int
    first_at: datetime
    last_at: datetime
    clients: dict[str, datetime]

    def add(self, tag: str, now: datetime) -> None:
        """One more look, by the client ``tag`` at ``now``."""
        self.count += 1
        self.last_at = max(self.last_at, now)
        self.clients.setdefault(tag, now)


def write_looks(engine: Engine, looks: Mapping[str, Looks]) -> None:
    """Add ``looks`` (card number -> its looks) to the stored counters, in one transaction."""
    if not looks:
        return
    # Cards in order: two writers on PostgreSQL lock their rows in the same order.
    numbers = sorted(looks)
    with write_transaction(engine) as conn:
        counted = _insert(conn, card_checks)
        conn.execute(
            counted.on_conflict_do_update(
                index_elements=[card_checks.c.card_number],
                set_={
                    "count": card_checks.c.count + counted.excluded["count"],
                    "last_at": counted.excluded.last_at,
                },
            ),
            [
                {
                    "card_number": n,
                    "count": looks[n].count,
                    "first_at": looks[n].first_at,
                    "last_at": looks[n].last_at,
                }
                for n in numbers
            ],
        )
        # Yesterday's tags say nothing today (they rotate): keep no more than needed.
        today = _day_start(max(seen.last_at for seen in looks.values()))
        conn.execute(
            sa.delete(card_check_clients).where(
                card_check_clients.c.card_number.in_(numbers),
                card_check_clients.c.first_at < today,
            )
        )
        clients = [
            {"card_number": n, "client": tag, "first_at": at}
            for n in numbers
            for tag, at in looks[n].clients.items()
            if at >= today
        ]
        if clients:
            conn.execute(_insert(conn, card_check_clients).on_conflict_do_nothing(), clients)


def record_check(
    engine: Engine, number: str, secret: bytes, address: str, now: datetime | None = None
) -> None:
    """Count one look at the page of the card ``number`` (which exists) from ``address``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    tag = client_tag(secret, now.date(), address)
    write_looks(engine, {number: Looks(1, now, now, {tag: now})})


class LookCounter:
    """The looks counted in one process, written together at most ``seconds`` after the
    first of them (0: each at once).

    A busy card page would otherwise write the database on every look, even those the
    lookup cache answers: on SQLite every worker would queue for the one write lock. The
    price: another process shows a look up to ``seconds`` late, and a process that dies
    without exiting (SIGKILL, power cut) loses that long of looks. This process's own
    reads call :meth:`flush` first, so they see every look it counted.
    """

    def __init__(self, engine: Engine, secret: bytes, seconds: float) -> None:
        self.seconds = seconds
        self._engine = engine
        self._secret = secret
        self._pending: dict[str, Looks] = {}
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        # Held while a batch is written: a flush returns only once every earlier look
        # is stored, even those a timer is writing at that moment.
        self._writing = threading.Lock()
        if seconds > 0:
            atexit.register(_flush_at_exit, weakref.ref(self))

    def record(self, number: str, address: str, now: datetime | None = None) -> None:
        """Count one look at the page of the card ``number`` (which exists) from ``address``."""
        if self.seconds <= 0:
            record_check(self._engine, number, self._secret, address, now)
            return
        now = (now or datetime.now(UTC)).astimezone(UTC)
        tag = client_tag(self._secret, now.date(), address)
        with self._lock:
            seen = self._pending.get(number)
            if seen is None:
                self._pending[number] = Looks(1, now, now, {tag: now})
            else:
                seen.add(tag, now)
            if self._timer is None:
                self._timer = threading.Timer(self.seconds, self._flush_logged)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write every look counted so far."""
        with self._writing:
            with self._lock:
                pending, self._pending = self._pending, {}
                timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            write_looks(self._engine, pending)

    def _flush_logged(self) -> None:
        # On the timer's thread nobody else would hear of a failure.
        try:
            self.flush()
        except Exception:
            log.exception("lookup counts could not be written; they are lost")


def _flush_at_exit(ref: weakref.ReferenceType[LookCounter]) -> None:
    counter = ref()
    if counter is not None:
        counter._flush_logged()


def app_counter(app: Flask) -> LookCounter:
    """The app's :class:`LookCounter` (each process has its own), made on first use.

    ``PUBLIC_LOOKUP_COUNT_SECONDS`` (app config) is how long looks wait to be written:
    1 by default, 0 (at once) in a TESTING app, whose tests read the tables directly.
    """
    found = app.extensions.get(_EXTENSION)
    if found is None:
        with _apps_lock:
            found = app.extensions.get(_EXTENSION)
            if found is None:
                default = 0.0 if app.testing else DEFAULT_COUNT_SECONDS
                seconds = float(app.config.get("PUBLIC_LOOKUP_COUNT_SECONDS", default))
                rt = runtime_of(app)
                found = app.extensions[_EXTENSION] = LookCounter(rt.engine, rt.secret_key, seconds)
    assert isinstance(found, LookCounter)
    return found


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
