"""The events rows of the audit: read as the driver's tuples, each held to its leaf's event.

The common case — the row agrees — is decided on the driver's values: SQLAlchemy's
result rows and its parsing of SQLite's timestamp text cost more than the rest of a
row's checks. Only a row that does not plainly agree is read again through SQLAlchemy
and compared column by column (:func:`row_mismatch`), which names the column; so a row
the fast check passes is one the column-by-column check passes too.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from ledger_service.domain import value as card_value
from ledger_service.events import card_commitment
from ledger_service.schema import cards, events

_BATCH = 10_000

_select_event_rows = (
    sa.select(
        events,
        cards.c.salt,
        cards.c.seq.label("card_seq"),
        cards.c.last_event_hash.label("card_last_event_hash"),
    )
    .select_from(events.outerjoin(cards, cards.c.number == events.c.card_number))
    .where(events.c.leaf_index >= sa.bindparam("lo"), events.c.leaf_index < sa.bindparam("hi"))
    .order_by(events.c.leaf_index)
)
_COLUMN = {column.name: i for i, column in enumerate(_select_event_rows.selected_columns)}
LEAF_INDEX, CARD_NUMBER, SEQ, TYPE, SALT = (
    _COLUMN[name] for name in ("leaf_index", "card_number", "seq", "type", "salt")
)
CARD_SEQ, CARD_LAST_EVENT_HASH = _COLUMN["card_seq"], _COLUMN["card_last_event_hash"]
"""The row's card's ``seq`` and ``last_event_hash`` (for the cards pass, see
:class:`ledger_service.audit_chunk.ChunkReport`)."""
_OCCURRED_AT, _RECORDED_AT, _STORE_ID, _ACTOR_ROLE, _ACTOR_ID = (
    _COLUMN[name] for name in ("occurred_at", "recorded_at", "store_id", "actor_role", "actor_id")
)
_AMOUNT, _BALANCE = _COLUMN["amount"], _COLUMN["balance"]


@functools.lru_cache(maxsize=16)
def _raw_sql(dialect: Dialect, statement: sa.Select[Any]) -> tuple[str, tuple[str, ...] | None]:
    compiled = dialect.statement_compiler(dialect, statement)
    order = compiled.positiontup
    return compiled.string, None if order is None else tuple(order)


def driver_rows(
    conn: Connection, statement: sa.Select[Any], batches: list[dict[str, Any]]
) -> Iterator[tuple[Any, ...]]:
    """The rows of a module-level ``statement`` run once per parameter set of ``batches``:
    the driver's own tuples, read on the connection's transaction."""
    sql, order = _raw_sql(conn.dialect, statement)
    cursor = conn.connection.cursor()
    try:
        for params in batches:
            cursor.execute(sql, params if order is None else tuple(params[k] for k in order))
            yield from cursor.fetchall()
    finally:
        cursor.close()


def event_rows(conn: Connection, start: int, end: int) -> Iterator[tuple[Any, ...]]:
    """The events rows with ``leaf_index`` in ``[start, end)``, in order, with their
    card's salt, seq and last event hash (:func:`driver_rows`)."""
    batches = [{"lo": lo, "hi": min(lo + _BATCH, end)} for lo in range(start, end, _BATCH)]
    return driver_rows(conn, _select_event_rows, batches)


_leaf_scalars = operator.itemgetter("leaf_index", "seq", "type", "store_id", "card")
_row_scalars = operator.itemgetter(LEAF_INDEX, SEQ, TYPE, _STORE_ID)
_leaf_actor = operator.itemgetter("role", "id")
_row_actor = operator.itemgetter(_ACTOR_ROLE, _ACTOR_ID)


def row_agrees(row: tuple[Any, ...], commitment: str, event: dict[str, Any]) -> bool:
    """True when a driver's row plainly agrees with its leaf's event (``commitment``: the
    row's card commitment); False sends it to :func:`row_mismatch`."""
    try:
        # Every event has these members (ledger_service.events.build_event); one that
        # lacks one, or whose actor is not an object, goes to the column-by-column check.
        actor = _leaf_actor(event["actor"])
        scalars = _leaf_scalars(event)
        occurred, recorded = event["occurred_at"], event["recorded_at"]
    except (KeyError, TypeError):
        return False
    return (
        scalars == (*_row_scalars(row), commitment)
        and actor == _row_actor(row)
        and _stamp_agrees(occurred, row[_OCCURRED_AT])
        and _stamp_agrees(recorded, row[_RECORDED_AT])
        and _value_columns(event) == (row[_AMOUNT], row[_BALANCE])
    )


def _stamp_agrees(text: object, stored: object) -> bool:
    if type(stored) is str:
        return type(text) is str and _sqlite_text(text) == stored
    return isinstance(stored, datetime) and _same_moment(text, stored)


@functools.lru_cache(maxsize=4096)
def _sqlite_text(text: str) -> str | None:
    """A leaf's millisecond stamp as SQLAlchemy writes it in SQLite; None if ``text`` is
    not one (any other spelling goes to the column-by-column check)."""
    if (
        len(text) == 24
        and text[10] == "T"
        and text[19] == "."
        and text[23] == "Z"
        and _parse_text(text) is not None
    ):
        return f"{text[:10]} {text[11:23]}000"
    return None


def _value_columns(event: dict[str, Any]) -> tuple[int | None, int | None]:
    """The ``amount`` and ``balance`` columns the event's type and data call for."""
    return card_value.event_columns(str(event.get("type")), event.get("data") or {})


# --- column by column, through SQLAlchemy -------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_stamp(text: object) -> datetime | None:
    """A leaf's ``…Z`` timestamp as an aware datetime; None if it is not one."""
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    return _parse_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> datetime | None:
    # strptime is slow, and the events of one transaction (a whole issued batch) share
    # their timestamps: parse each distinct stamp once.
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _naive_stamp(text: str) -> datetime | None:
    # SQLite hands timestamps back naive (in UTC): compare without converting each row.
    parsed = _parse_text(text)
    return None if parsed is None else parsed.replace(tzinfo=None)


def _same_moment(text: object, moment: datetime) -> bool:
    if type(text) is not str or not text.endswith("Z"):
        return False
    if moment.tzinfo is None:
        return _naive_stamp(text) == moment
    return _parse_text(text) == moment


def _sa_row(conn: Connection, index: int) -> Any:
    return conn.execute(_select_event_rows, {"lo": index, "hi": index + 1}).one()


def row_mismatch(conn: Connection, index: int, event: dict[str, Any]) -> str | None:
    """Which column of the events row at ``index`` disagrees with its leaf's event, if any
    (read again through SQLAlchemy, its timestamps as datetimes)."""
    row = _sa_row(conn, index)
    salt = row.salt
    if salt is None:
        return f"card_number {row.card_number!r} is not a card"
    actor = event.get("actor")
    actor = actor if type(actor) is dict else {}
    amount, balance = _value_columns(event)
    expected = {
        "leaf_index": (event.get("leaf_index"), row.leaf_index),
        "card_number": (event.get("card"), card_commitment(bytes(salt), row.card_number)),
        "seq": (event.get("seq"), row.seq),
        "type": (event.get("type"), row.type),
        "occurred_at": (parse_stamp(event.get("occurred_at")), _utc(row.occurred_at)),
        "recorded_at": (parse_stamp(event.get("recorded_at")), _utc(row.recorded_at)),
        "store_id": (event.get("store_id"), row.store_id),
        "actor_role": (actor.get("role"), row.actor_role),
        "actor_id": (actor.get("id"), row.actor_id),
        "amount": (amount, row.amount),
        "balance": (balance, row.balance),
    }
    for column, (in_leaf, in_row) in expected.items():
        if in_leaf != in_row:
            hint = ""
            if (
                isinstance(in_row, datetime)
                and in_row.replace(microsecond=in_row.microsecond // 1000 * 1000) == in_leaf
            ):
                hint = " (it differs below the millisecond, which events do not record)"
            return f"column {column} does not match the logged event{hint}"
    return None
