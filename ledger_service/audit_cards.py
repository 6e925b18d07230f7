"""Pass 3 of ``cardtrail audit``: the cards table against each card's last logged event."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_service.audit_findings import Divergence
from ledger_service.audit_rows import driver_rows
from ledger_service.schema import cards

_select_heads = sa.select(cards.c.number, cards.c.seq, cards.c.last_event_hash)


def audit_cards(conn: Connection, last: dict[str, tuple[int, str]]) -> Divergence | None:
    """Each card's seq and last_event_hash are those of its last logged event."""
    stored = set(driver_rows(conn, _select_heads, [{}]))
    # Every card of an event is in the table (the events pass holds rows to cards), so
    # the two sets are equal exactly when every row matches: compare them whole first.
    if stored == {(number, seq, digest) for number, (seq, digest) in last.items()}:
        return None
    for number, seq, digest in sorted(stored):
        if last.get(number) != (seq, digest):
            return Divergence(
                "cards",
                f"card {number}",
                "seq or last_event_hash does not match its last logged event",
            )
    return None
