"""Writing accepted commands down: one event per card, one log leaf per event.

Callers hold the log head (:meth:`anchoring.log.MerkleLog.lock_head`) and pass its size:
the leaves they append get the next indexes, with no gap and no other writer between.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from anchoring.db import is_postgres
from anchoring.log import MerkleLog
from ledger_service.actor import Actor
from ledger_service.domain import value
from ledger_service.domain.lifecycle import EventDraft
from ledger_service.events import (
    build_event,
    card_commitment,
    event_hash,
    leaf_input,
    new_nonce,
)
from ledger_service.schema import events
from ledger_service.service.rows import update_card

_insert_events = sa.insert(events)

IN_CHUNK = 1_000
"""Most values in one ``IN (…)`` list."""

LogEntry = tuple[str, bytes, int, str, EventDraft]
"""One card's next event: ``(number, salt, seq, prev_event_hash, draft)``."""


def log_events(
    log: MerkleLog,
    size: int,
    actor: Actor,
    now: datetime,
    entries: Sequence[LogEntry],
) -> tuple[list[tuple[int, str]], list[dict[str, Any]]]:
    """Append one event per entry to the log, from leaf ``size`` on.

    Returns ``(leaf_index, event hash)`` per entry, and the ``events`` rows for the
    caller to insert once the cards rows exist.
    """
    leaves, rows, logged = [], [], []
    who = actor.to_event()
    for offset, (number, salt, seq, prev_hash, draft) in enumerate(entries):
        index = size + offset
        event = build_event(
            leaf_index=index,
            card=card_commitment(salt, number),
            seq=seq,
            type=draft.type,
            occurred_at=draft.occurred_at,
            recorded_at=now,
            actor=who,
            store_id=draft.store_id,
            data=draft.data,
            prev_event_hash=prev_hash,
            nonce=new_nonce(),
        )
        leaf = leaf_input(event)
        leaves.append(leaf)
        logged.append((index, event_hash(leaf)))
        # The value columns repeat what the event logs, for the books to sum.
        amount, balance = value.event_columns(draft.type.value, draft.data)
        rows.append(
            {
                "leaf_index": index,
                "card_number": number,
                "seq": seq,
                "type": draft.type.value,
                "occurred_at": draft.occurred_at,
                "recorded_at": now,
                "store_id": draft.store_id,
                "actor_role": actor.role,
                "actor_id": actor.id,
                "amount": amount,
                "balance": balance,
            }
        )
    first = log.append(leaves)
    if first != size:
        raise RuntimeError(f"log grew from {size} to {first} under the head lock")
    return logged, rows


def apply(
    conn: Connection,
    log: MerkleLog,
    size: int,
    row: Row[Any],
    draft: EventDraft,
    actor: Actor,
    now: datetime,
    **card_values: Any,
) -> int:
    """Log the card's next event and move the card on; returns the event's leaf index."""
    entry = (row.number, bytes(row.salt), row.seq + 1, row.last_event_hash, draft)
    [(leaf_index, last_hash)], event_rows = log_events(log, size, actor, now, [entry])
    conn.execute(_insert_events, event_rows)
    updated = conn.execute(
        update_card,
        {
            "for_number": row.number,
            "at_seq": row.seq,
            "state": draft.state.value,
            "blocked_from": draft.blocked_from.value if draft.blocked_from else None,
            "seq": row.seq + 1,
            "last_event_hash": last_hash,
            "updated_at": now,
            **card_values,
        },
    )
    if updated.rowcount != 1:
        raise RuntimeError(f"card changed under the head lock (seq {row.seq})")
    return leaf_index


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows with the same keys, at the speed bulk issuance needs.

    PostgreSQL: COPY, several times faster than a per-row executemany. SQLite: the
    driver's executemany, with datetimes stored exactly as SQLAlchemy stores them (its own
    bind processor, applied once per distinct value), which spares SQLAlchemy's per-row
    bookkeeping. Every other column type here goes to sqlite3 as it is.
    """
    columns = list(rows[0])
    names = ", ".join(columns)
    if is_postgres(conn):
        driver = conn.connection.driver_connection
        assert driver is not None, "a connection in use always has its driver connection"
        cursor = driver.cursor()
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[column] for column in columns])
        return
    values = [[row[column] for column in columns] for row in rows]
    for position, column in enumerate(columns):
        kind = table.c[column].type
        if isinstance(kind, sa.DateTime):
            store = kind.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            stored: dict[datetime, Any] = {}
            for value in values:
                moment = value[position]
                if moment is not None and store is not None:
                    if moment not in stored:
                        stored[moment] = store(moment)
                    value[position] = stored[moment]
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
    conn.exec_driver_sql(sql, [tuple(value) for value in values])


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices small enough for one ``IN (…)`` list."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
