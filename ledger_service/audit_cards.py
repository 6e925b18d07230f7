"""Pass 3 of ``cardtrail audit``: the cards table against each card's last logged event.

Each card is checked in the chunks of the events pass, beside its events
(:class:`ledger_service.audit_chunk.ChunkReport`); :func:`audit_cards` adds up what they
found, and reads the table row by row only when that does not add up.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_service.audit_findings import Divergence
from ledger_service.audit_rows import driver_rows
from ledger_service.schema import cards

_select_heads = sa.select(cards.c.number, cards.c.seq, cards.c.last_event_hash)
_count_cards = sa.select(sa.func.count()).select_from(cards)


def audit_cards(
    conn: Connection, last: dict[str, tuple[int, str]], closed: int | None = None
) -> Divergence | None:
    """Each card's seq and last_event_hash are those of its last logged event.

    ``closed``, from the chunks of the events pass, is how many cards an event closed
    (``ChunkReport.cards_closed``), or None if some event did not agree with its card:
    when it is the number of cards, every card holds and the table is not read again.
    Otherwise each row is compared with ``last`` here, to name the first that differs.
    """
    if closed is not None and closed == conn.execute(_count_cards).scalar_one():
        return None
    stored = set(driver_rows(conn, _select_heads, [{}]))
    # Every card of an event is in the table (the events pass holds rows to cards), so
    # the two sets are equal exactly when every row matches: compare them whole first.
    # (number,) + (seq, digest) for each card, without a Python step per card.
    if stored == set(map(tuple.__add__, zip(last), last.values())):
        return None
    for number, seq, digest in sorted(stored):
        if last.get(number) != (seq, digest):
            return Divergence(
                "cards",
                f"card {number}",
                "seq or last_event_hash does not match its last logged event",
            )
    return None
