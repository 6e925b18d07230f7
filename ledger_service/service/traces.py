"""What a refusal leaves behind, outside the log: wrong-code counts and anomalies.

A refused command writes nothing to the log, but some refusals must not pass unseen. A
wrong redemption code counts against the card (five in a row lock its code, see
:mod:`ledger_service.domain.lockout`); a use of a spent, blocked, voided, foreign or
unknown card is an anomaly for the console. :class:`Trace` writes these after the
transaction runner (:mod:`ledger_service.service.transaction`) has rolled the refused
command back, in the same transaction, so they commit with the command's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger_service import devices, errors
from ledger_service.actor import Actor
from ledger_service.domain import codes, lockout
from ledger_service.domain.lifecycle import EventDraft, EventType
from ledger_service.schema import anomalies, cards, code_failures, events
from ledger_service.service.rows import card_or_404, lock_state, lock_values

REDEMPTION_BURST = 20
"""Redemptions at one store within :data:`BURST_WINDOW` that the console is told about."""
BURST_WINDOW = timedelta(minutes=1)

# Refusals of a card's use that the console's anomaly view lists.
_ANOMALY_KINDS: dict[type[errors.LedgerError], str] = {
    errors.CardAlreadyUsed: "used_card_attempt",
    errors.StoreNotAllowed: "other_store_attempt",
    errors.CardBlocked: "blocked_card_attempt",
    errors.CardVoided: "voided_card_attempt",
    errors.CardNotFound: "unknown_card",
}
ANOMALY_KINDS = frozenset(_ANOMALY_KINDS.values()) | {
    "code_locked",
    "redemption_burst",
    "offline_conflict",
}
"""Every kind of anomaly the console may list."""

# Counting stops one past the burst level: only reaching it exactly matters, and a busy
# store's minute would otherwise be counted in full on every redemption.
recent_redemptions = (
    sa.select(sa.func.count())
    .select_from(
        sa.select(sa.literal(1))
        .select_from(events)
        .where(
            events.c.type == EventType.REDEEMED.value,
            events.c.occurred_at > sa.bindparam("since"),
            events.c.store_id == sa.bindparam("at_store"),
        )
        .limit(REDEMPTION_BURST + 1)
        .subquery()
    )
    .scalar_subquery()
)
"""The redemptions logged at the store ``at_store`` after ``since`` (parameters), counted
up to one past :data:`REDEMPTION_BURST`: a column of the statement a redeem reads its card
with, so that the count costs no statement of its own."""


@dataclass
class Trace:
    """Who tried which command on which card at which store: what a refusal records.

    A trace records nothing until it knows its card (``number``): a pickup step learns it
    only from the pickup, inside its transaction, and sets it with :meth:`about`.
    """

    actor: Actor
    command: str
    now: datetime
    number: str | None = None
    store_id: str | None = None
    signed: devices.DeviceSignature | None = None

    def about(
        self, number: str, store_id: str | None, signed: devices.DeviceSignature | None
    ) -> None:
        """Name the card, store and signature the command turned out to be about."""
        self.number, self.store_id, self.signed = number, store_id, signed

    def record(self, conn: Connection, refusal: errors.LedgerError) -> errors.LedgerError:
        """Write what ``refusal`` leaves behind; returns the refusal to raise (a wrong
        code's says how many attempts are left, or how long the code is locked)."""
        if self.number is None:
            return refusal
        if isinstance(refusal, errors.InvalidCode):
            return self._wrong_code(conn, self.number)
        if isinstance(refusal, errors.CodeLocked):
            self._failure(conn, self.number, "locked")
            return refusal
        kind = next((k for cls, k in _ANOMALY_KINDS.items() if isinstance(refusal, cls)), None)
        if kind is not None:
            kind = devices.anomaly_kind(kind, self.signed, conn, self.number)
            detail = devices.anomaly_detail(refusal.detail, self.signed)
            add_anomaly(conn, kind, self.actor, self.number, self.store_id, detail, self.now)
        return refusal

    def _wrong_code(self, conn: Connection, number: str) -> errors.InvalidCode:
        """Count a wrong code against the card; the error to raise says what is left."""
        # The row lock keeps concurrent failures from losing counts on PostgreSQL.
        row = card_or_404(conn, number, lock=True)
        before = lock_state(row)
        after = lockout.record_failure(before, self.now)
        conn.execute(sa.update(cards).where(cards.c.number == number).values(**lock_values(after)))
        self._failure(conn, number, "wrong")
        if after.locks > before.locks:
            left = lockout.locked_for(after, self.now)
            detail = f"{lockout.MAX_FAILURES} wrong codes in a row: code locked for {minutes(left)}"
            add_anomaly(conn, "code_locked", self.actor, number, self.store_id, detail, self.now)
            return errors.InvalidCode(f"wrong redemption code; {detail}", retry_after=seconds(left))
        return errors.InvalidCode(
            "wrong redemption code", attempts_left=lockout.MAX_FAILURES - after.failures
        )

    def _failure(self, conn: Connection, number: str, outcome: str) -> None:
        conn.execute(
            sa.insert(code_failures),
            {
                "card_number": number,
                "at": self.now,
                "command": self.command,
                "outcome": outcome,
                "actor_role": self.actor.role,
                "actor_id": self.actor.id,
                "store_id": self.store_id,
            },
        )


CodeMatch = Callable[[object], bool]
"""Whether a code a customer showed is the right one."""


def check_code(
    secret: bytes, row: Row[Any], code: object, now: datetime, matches: CodeMatch | None = None
) -> None:
    """Refuse a locked code (CODE_LOCKED) or a wrong one (INVALID_CODE) of the card ``row``.
    ``matches``: how ``code`` is checked instead of against the card's own code (a pickup's
    rotating code), under the same lockout."""
    left = lockout.locked_for(lock_state(row), now)
    if left is not None:
        raise errors.CodeLocked(
            f"too many wrong codes: the code is locked for {minutes(left)}",
            retry_after=seconds(left),
        )
    if matches is None:
        right = codes.code_matches(secret, code, bytes(row.code_hash))
    else:
        right = matches(code)
    if not right:
        raise errors.InvalidCode("wrong redemption code")


def note_burst(
    conn: Connection, actor: Actor, store_id: str, now: datetime, before: int, draft: EventDraft
) -> None:
    """Flag a store whose redemptions in the last minute just reached the burst level.

    ``before``: :data:`recent_redemptions` at the store, read under the log head before
    ``draft`` was logged; the draft, logged since, counts if it is one of them.
    """
    counted = (
        draft.type is EventType.REDEEMED
        and draft.store_id == store_id
        and draft.occurred_at > now - BURST_WINDOW
    )
    recent = before + counted
    if recent == REDEMPTION_BURST:
        detail = f"{recent} redemptions within {int(BURST_WINDOW.total_seconds())} s"
        add_anomaly(conn, "redemption_burst", actor, None, store_id, detail, now)


def add_anomaly(
    conn: Connection,
    kind: str,
    actor: Actor,
    number: str | None,
    store_id: str | None,
    detail: str,
    now: datetime,
) -> None:
    """One row of the console's anomaly list."""
    conn.execute(
        sa.insert(anomalies),
        {
            "kind": kind,
            "card_number": number,
            "store_id": store_id,
            "at": now,
            "actor_role": actor.role,
            "actor_id": actor.id,
            "detail": detail[:500],
        },
    )


def seconds(left: timedelta | None) -> int:
    """Whole seconds, rounded up (a Retry-After never says to come back too early)."""
    return 0 if left is None else int(-(-left.total_seconds() // 1))


def minutes(left: timedelta | None) -> str:
    """``left`` in whole minutes, rounded up, for people."""
    count = -(-seconds(left) // 60)
    return f"{count} minute" + ("" if count == 1 else "s")
