"""What bulk issuance reads before it writes: that the stores exist, which row keys of a
batch were issued before, and card numbers that no card has yet.

On PostgreSQL each lookup is one query with its values as one array parameter; on SQLite
an ``IN`` list per thousand values.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from anchoring.db import is_postgres
from ledger_service import errors
from ledger_service.domain.cards import CardSpec
from ledger_service.domain.numbers import generate_card_numbers
from ledger_service.schema import cards, stores
from ledger_service.service.events_log import chunks


def check_stores_exist(conn: Connection, wanted: set[str]) -> None:
    """STORE_NOT_FOUND naming the first ten of ``wanted`` that no store has."""
    found: set[str] = set()
    for chunk in chunks(sorted(wanted)):
        found.update(conn.execute(sa.select(stores.c.id).where(stores.c.id.in_(chunk))).scalars())
    missing = sorted(wanted - found)
    if missing:
        raise errors.StoreNotFound(f"unknown store(s) in allowed_stores: {', '.join(missing[:10])}")


def already_imported(conn: Connection, batch_ref: str, specs: Sequence[CardSpec]) -> dict[str, str]:
    """Row keys of this batch that were issued before, with their card numbers."""
    by_key = {f"{batch_ref}/{s.row_key}": s.row_key for s in specs if s.row_key}
    found = _matching(conn, "import_key", list(by_key))
    return {by_key[key]: number for key, number in found}


def new_numbers(conn: Connection, count: int) -> list[str]:
    """``count`` fresh card numbers that no card has yet."""
    numbers: dict[str, None] = {}
    while len(numbers) < count:
        # A collision among ~79 random bits is a freak event, but it must not become a
        # duplicate key error halfway through a million-card import.
        wanted = dict.fromkeys(generate_card_numbers(count - len(numbers)))
        for taken, _ in _matching(conn, "number", list(wanted)):
            del wanted[taken]
        numbers.update((n, None) for n in wanted if n not in numbers)
    return list(numbers)


def _matching(conn: Connection, column: str, values: Sequence[str]) -> list[tuple[str, str]]:
    """``(column value, card number)`` of the cards whose ``column`` is one of ``values``.

    PostgreSQL: one query with the values as one array parameter; an ``IN`` list of
    thousands of parameters cost more to build and bind than the lookup itself.
    """
    if not values:
        return []
    if is_postgres(conn):
        sql = f"SELECT {column}, number FROM cards WHERE {column} = ANY(%s)"
        return [tuple(row) for row in conn.exec_driver_sql(sql, (list(values),))]
    found: list[tuple[str, str]] = []
    for chunk in chunks(values):
        query = sa.select(cards.c[column], cards.c.number).where(cards.c[column].in_(chunk))
        found.extend(tuple(row) for row in conn.execute(query))
    return found
