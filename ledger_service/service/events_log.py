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
from anchoring.log import MerkleLog, copy_rows
from ledger_service.actor import Actor
from ledger_service.domain import value
from ledger_service.domain.lifecycle import EventDraft
from ledger_service.events import (
    card_commitment,
    event_hash,
    format_timestamp,
    leaf_input,
    new_nonces,
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
    encode = _EventEncoder(actor.to_event(), now)
    nonces = new_nonces(len(entries))
    for offset, (number, salt, seq, prev_hash, draft) in enumerate(entries):
        index = size + offset
        leaf = encode(index, card_commitment(salt, number), seq, prev_hash, draft, nonces[offset])
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


class _EventEncoder:
    """The leaf inputs of one call's events, as :func:`~ledger_service.events.leaf_input`
    of :func:`~ledger_service.events.build_event` writes them, byte for byte.

    The canonical JSON of an object is its members' canonical JSON in key order, so an
    event is spliced from parts: the actor, the ``data`` and the members after ``nonce``
    are encoded once per distinct value (a batch's cards mostly share one ``data``
    object), and only the card, the leaf index and the nonce — hex and an int, which
    JSON writes as they are — are new per event. Encoding each whole event took a
    fifth of a bulk issue's CPU.
    """

    def __init__(self, actor: Mapping[str, str], now: datetime) -> None:
        # b'{"actor":{...}' : the first member, the object still open.
        self._head = leaf_input({"actor": {"role": actor["role"], "id": actor["id"]}})[:-1]
        self._now = now
        self._data: dict[int, tuple[Mapping[str, Any], bytes]] = {}
        self._tails: dict[tuple[Any, ...], bytes] = {}

    def __call__(
        self, index: int, card: str, seq: int, prev_hash: str, draft: EventDraft, nonce: str
    ) -> bytes:
        """The leaf input of the event at ``index``."""
        return b"".join(
            (
                self._head,
                b',"card":"',
                card.encode(),
                b'","data":',
                self._encoded_data(draft.data),
                b',"leaf_index":',
                str(index).encode(),
                b',"nonce":"',
                nonce.encode(),
                b'",',
                self._tail(seq, prev_hash, draft),
            )
        )

    def _encoded_data(self, data: Mapping[str, Any]) -> bytes:
        # Keyed by identity, with the object kept alive so that its id is not reused.
        known = self._data.get(id(data))
        if known is None:
            known = self._data[id(data)] = (data, leaf_input(dict(data)))
        return known[1]

    def _tail(self, seq: int, prev_hash: str, draft: EventDraft) -> bytes:
        key = (seq, prev_hash, draft.type, draft.occurred_at, draft.store_id)
        tail = self._tails.get(key)
        if tail is None:
            # The members after "nonce", and the object's closing brace.
            tail = self._tails[key] = leaf_input(
                {
                    "occurred_at": format_timestamp(draft.occurred_at),
                    "prev_event_hash": prev_hash,
                    "recorded_at": format_timestamp(self._now),
                    "seq": seq,
                    "store_id": draft.store_id,
                    "type": str(draft.type),
                }
            )[1:]
        return tail


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
    """Insert many rows with the same keys (:func:`bulk_insert_rows`)."""
    columns = list(rows[0])
    bulk_insert_rows(conn, table, columns, [[row[column] for column in columns] for row in rows])


def bulk_insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert many rows, each the values of ``columns`` in order, at the speed bulk
    issuance needs.

    PostgreSQL: a binary COPY (:func:`anchoring.log.copy_rows`), several times faster
    than a per-row executemany. SQLite: the driver's executemany, with datetimes stored
    exactly as SQLAlchemy stores them (its own bind processor, applied once per distinct
    value), which spares SQLAlchemy's per-row bookkeeping. Every other column type here
    goes to sqlite3 as it is.
    """
    names = ", ".join(columns)
    if is_postgres(conn):
        copy_rows(conn, table, columns, rows)
        return
    values = [list(row) for row in rows]
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
