"""Expiry: unused cards past their date get their EXPIRED event, a batch per transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service.actor import SYSTEM, Actor
from ledger_service.domain.lifecycle import EXPIRABLE, CardState, Expire, decide
from ledger_service.schema import cards, events
from ledger_service.service.checks import WRITERS, require_role
from ledger_service.service.events_log import bulk_insert, log_events
from ledger_service.service.rows import card_of
from ledger_service.service.transaction import CommandRunner, head

EXPIRY_BATCH = 1_000
"""Most cards expired in one transaction."""


class Expiry(CommandRunner):
    """Closing unused cards whose date has passed."""

    def expire_due(
        self, actor: Actor = SYSTEM, progress: Callable[[int], None] | None = None
    ) -> int:
        """Write EXPIRED for every unused card past its date; returns how many.

        Each batch of :data:`EXPIRY_BATCH` cards is one run of the transaction runner, so
        a long backlog never holds the log head for long; ``progress`` is told the size
        of each batch once it has committed.
        """
        require_role(actor, WRITERS)
        total = 0
        while True:
            now = self._now()
            with self._run(None) as conn:
                log, size = head(conn)
                rows = conn.execute(
                    sa.select(cards)
                    .where(_due(now))
                    .order_by(cards.c.expires_at)
                    .limit(EXPIRY_BATCH)
                ).all()
                if rows:
                    _expire(conn, log, size, actor, now, rows)
            total += len(rows)
            if rows and progress is not None:
                progress(len(rows))
            if len(rows) < EXPIRY_BATCH:
                return total

    def count_due(self) -> int:
        """How many cards :meth:`expire_due` would expire now (read through the
        ``expires_at`` index): the length of a progress bar."""
        with read_transaction(self._engine) as conn:
            query = sa.select(sa.func.count()).select_from(cards).where(_due(self._now()))
            return int(conn.execute(query).scalar_one())


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """Cards past their date that are unused (sold or not), or blocked while unused."""
    unused = [state.value for state in EXPIRABLE]
    return sa.and_(
        cards.c.expires_at <= now,
        sa.or_(
            cards.c.state.in_(unused),
            sa.and_(cards.c.state == CardState.BLOCKED.value, cards.c.blocked_from.in_(unused)),
        ),
    )


def _expire(
    conn: Connection,
    log: MerkleLog,
    size: int,
    actor: Actor,
    now: datetime,
    rows: Sequence[Row[Any]],
) -> None:
    entries = [
        (r.number, bytes(r.salt), r.seq + 1, r.last_event_hash, decide(card_of(r), Expire(), now))
        for r in rows
    ]
    logged, event_rows = log_events(log, size, actor, now, entries)
    bulk_insert(conn, events, event_rows)
    conn.execute(
        sa.update(cards)
        .where(cards.c.number == sa.bindparam("b_number"))
        .values(
            state=CardState.EXPIRED.value,
            blocked_from=None,
            seq=sa.bindparam("b_seq"),
            last_event_hash=sa.bindparam("b_hash"),
            updated_at=now,
        ),
        [
            {"b_number": r.number, "b_seq": r.seq + 1, "b_hash": last_hash}
            for r, (_, last_hash) in zip(rows, logged, strict=True)
        ],
    )
