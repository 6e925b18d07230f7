"""Goods per store and product: reserving for pickups, and headquarters' stock management.

The three pickup steps are functions on the caller's connection, so that they commit or
roll back with the pickup event that needs them (the pickup commands call them inside
their own transaction):

* :func:`reserve` — a pickup request holds ``n`` units (``OUT_OF_STOCK`` when fewer than
  ``n`` are available, i.e. on hand and not reserved);
* :func:`release` — a cancelled pickup gives its units back;
* :func:`consume` — a completed pickup takes its reserved units off the shelf.

Each is ONE conditional ``UPDATE`` whose ``WHERE`` states the rule: the database checks
and changes the row in one step under its row lock, so concurrent requests for the last
units can never over-reserve (PostgreSQL re-evaluates the condition on the locked row;
SQLite runs writers one at a time). The table's check constraint
(``0 <= reserved <= on_hand``) is the last line of defence.

Wiring them into the pickup commands (store pickups of cards with a ``sku`` only; a
delivery draws on no store's stock), each call on the command's own connection so that
it commits or rolls back with the event::

    units = product_units(conn, card.sku)
    reserve(conn, store_id, card.sku, units)       # request: before PICKUP_REQUESTED
    release(conn, store_id, card.sku, units)       # cancel: with PICKUP_CANCELLED
    release(conn, old_store, card.sku, units)      # move: release the old store's units…
    reserve(conn, new_store, card.sku, units)      # …and reserve at the new one
    consume(conn, store_id, card.sku, units)       # complete: with PICKUP_COMPLETED

An ``OUT_OF_STOCK`` raised inside the command's savepoint refuses the whole command:
nothing of it reaches the log.

Headquarters sets what is on hand and the low-water mark per store and product
(:class:`StockCommands`), from the API, the console or a CSV file (:func:`read_stock_csv`,
:func:`stock_csv`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.csv_cells import safe_row
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.schema import products, stock, stores
from ledger_service.service.checks import READERS, WRITERS, require_role, valid
from ledger_service.service.transaction import CommandRunner

MAX_UNITS = 1_000_000
"""The most units of one product one store may hold (a typo guard, not a business rule)."""
CSV_COLUMNS = ("store_id", "sku", "on_hand", "low_water")
"""The columns of a stock CSV, in this order when written; read by name."""
CSV_EXPORT_COLUMNS = (*CSV_COLUMNS, "reserved", "available")
MAX_CSV_ROWS = 10_000

_key = sa.and_(
    stock.c.store_id == sa.bindparam("for_store"), stock.c.sku == sa.bindparam("for_sku")
)
_reserve = (
    sa.update(stock)
    .where(_key, stock.c.on_hand - stock.c.reserved >= sa.bindparam("n"))
    .values(reserved=stock.c.reserved + sa.bindparam("n"), updated_at=sa.bindparam("now"))
)
_release = (
    sa.update(stock)
    .where(_key, stock.c.reserved >= sa.bindparam("n"))
    .values(reserved=stock.c.reserved - sa.bindparam("n"), updated_at=sa.bindparam("now"))
)
_consume = (
    sa.update(stock)
    .where(_key, stock.c.reserved >= sa.bindparam("n"))
    .values(
        on_hand=stock.c.on_hand - sa.bindparam("n"),
        reserved=stock.c.reserved - sa.bindparam("n"),
        updated_at=sa.bindparam("now"),
    )
)


def _stamp(now: datetime | None) -> datetime:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _units(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise errors.ValidationFailed(f"the number of units must be a positive integer, got {n!r}")
    return n


def _step(
    conn: Connection,
    statement: sa.Update,
    store_id: str,
    sku: str,
    n: int,
    now: datetime | None,
    refusal: str,
) -> None:
    params = {"for_store": store_id, "for_sku": sku, "n": _units(n), "now": _stamp(now)}
    if conn.execute(statement, params).rowcount != 1:
        raise errors.OutOfStock(refusal.format(n=n, sku=sku, store=store_id))


def reserve(
    conn: Connection, store_id: str, sku: str, n: int = 1, *, now: datetime | None = None
) -> None:
    """Hold ``n`` units of ``sku`` at ``store_id`` for a pickup request, on ``conn``.

    Raises :class:`~ledger_service.errors.OutOfStock` (``OUT_OF_STOCK``, 409) when fewer
    than ``n`` units are available (on hand less reserved) or the store carries no stock
    of the product; nothing is changed then. Call it inside the request's transaction:
    the reservation commits or rolls back with the PICKUP_REQUESTED event.
    """
    _step(conn, _reserve, store_id, sku, n, now, "only fewer than {n} of {sku} left at {store}")


def release(
    conn: Connection, store_id: str, sku: str, n: int = 1, *, now: datetime | None = None
) -> None:
    """Give back ``n`` units a pickup had reserved (the pickup was cancelled or moved away).

    Raises :class:`~ledger_service.errors.OutOfStock` when fewer than ``n`` units are
    reserved there: releasing what was never reserved would hide a bug, so it is refused.
    """
    _step(conn, _release, store_id, sku, n, now, "fewer than {n} of {sku} reserved at {store}")


def consume(
    conn: Connection, store_id: str, sku: str, n: int = 1, *, now: datetime | None = None
) -> None:
    """Take ``n`` reserved units off the shelf: the pickup was handed over.

    Both ``on_hand`` and ``reserved`` go down by ``n``; the available count is unchanged.
    Raises :class:`~ledger_service.errors.OutOfStock` when fewer than ``n`` are reserved
    (a pickup must have reserved what it consumes).
    """
    _step(conn, _consume, store_id, sku, n, now, "fewer than {n} of {sku} reserved at {store}")


def product_units(conn: Connection, sku: str) -> int:
    """The items one pickup of ``sku`` collects (``products.units``); PRODUCT_NOT_FOUND if
    the catalogue has no such product."""
    units = conn.execute(sa.select(products.c.units).where(products.c.sku == sku)).scalar()
    if units is None:
        raise errors.ProductNotFound(f"no product {sku[:64]!r}")
    return int(units)


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockLine:
    """One store's stock of one product."""

    store_id: str
    sku: str
    on_hand: int
    reserved: int
    low_water: int

    @property
    def available(self) -> int:
        """What a new pickup request may still reserve."""
        return self.on_hand - self.reserved

    @property
    def low(self) -> bool:
        """At or below the low-water mark: the dashboard warns."""
        return self.available <= self.low_water

    def to_json(self) -> dict[str, Any]:
        """The line as the API answers it."""
        return {
            "store_id": self.store_id,
            "sku": self.sku,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "available": self.available,
            "low_water": self.low_water,
        }


def _line(row: Row[Any]) -> StockLine:
    return StockLine(row.store_id, row.sku, row.on_hand, row.reserved, row.low_water)


def stock_lines(
    conn: Connection, *, store_id: str | None = None, sku: str | None = None
) -> list[StockLine]:
    """Stock lines by store and SKU, optionally of one store or one product."""
    query = sa.select(stock).order_by(stock.c.store_id, stock.c.sku)
    if store_id is not None:
        query = query.where(stock.c.store_id == store_id)
    if sku is not None:
        query = query.where(stock.c.sku == sku)
    return [_line(row) for row in conn.execute(query)]


def low_stock(conn: Connection) -> list[StockLine]:
    """Every line at or below its low-water mark (available ≤ low_water), emptiest first."""
    available = stock.c.on_hand - stock.c.reserved
    rows = conn.execute(
        sa.select(stock)
        .where(available <= stock.c.low_water)
        .order_by(available, stock.c.store_id, stock.c.sku)
    )
    return [_line(row) for row in rows]


def pickup_stores(conn: Connection, sku: str) -> list[dict[str, Any]]:
    """The stores a customer may choose to collect ``sku`` at: those with at least one unit
    available, with their address, hours and coordinates, by city then store id."""
    available = (stock.c.on_hand - stock.c.reserved).label("available")
    rows = conn.execute(
        sa.select(stores, available)
        .join(stock, stock.c.store_id == stores.c.id)
        .where(stock.c.sku == sku, stock.c.on_hand - stock.c.reserved > 0)
        .order_by(stores.c.city, stores.c.id)
    )
    return [
        {
            "store_id": row.id,
            "name": row.name,
            "city": row.city,
            "address": row.address,
            "opening_hours": row.opening_hours,
            "latitude": row.latitude,
            "longitude": row.longitude,
            "available": row.available,
        }
        for row in rows
    ]


def by_city(stores_: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stores grouped by their ``city`` (kept in the order met; no city: ``None`` last).

    >>> grouped = by_city([{"city": "上海"}, {"city": None}, {"city": "上海", "n": 3}])
    >>> [(group["city"], len(group["stores"])) for group in grouped]
    [('上海', 2), (None, 1)]
    """
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for store in stores_:
        groups.setdefault(store["city"], []).append(store)
    ordered = sorted(groups, key=lambda city: city is None)
    return [{"city": city, "stores": groups[city]} for city in ordered]


# --- CSV ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockRow:
    """One line of an uploaded stock CSV: what to set (``None``: leave as it is)."""

    line: int
    store_id: str
    sku: str
    on_hand: int | None
    low_water: int | None


def _count(text: str, name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"{name} must be a whole number, got {text[:20]!r}")
    value = int(text)
    if value > MAX_UNITS:
        raise ValueError(f"{name} is more than {MAX_UNITS}")
    return value


def read_stock_csv(text: str) -> Iterator[StockRow]:
    """The rows of a stock CSV (header ``store_id,sku,on_hand,low_water``; a byte-order mark
    and extra columns, such as the export's ``reserved`` and ``available``, are ignored).

    Raises ``ValueError`` naming the line of the first malformed row.
    """
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    missing = [c for c in ("store_id", "sku") if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"the header must name the columns {', '.join(CSV_COLUMNS)}")
    for number, record in enumerate(reader, start=2):
        if number - 1 > MAX_CSV_ROWS:
            raise ValueError(f"more than {MAX_CSV_ROWS} rows")
        try:
            store_id = check_store_id((record.get("store_id") or "").strip())
            sku = (record.get("sku") or "").strip().removeprefix("'")
            if not sku:
                raise ValueError("sku is empty")
            row = StockRow(
                number,
                store_id,
                sku,
                _count(record.get("on_hand") or "", "on_hand"),
                _count(record.get("low_water") or "", "low_water"),
            )
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        yield row


def stock_csv(lines: Iterable[StockLine]) -> str:
    """Stock lines as CSV for spreadsheets: UTF-8 with a byte-order mark (so that Excel
    reads Chinese text right), every cell neutralised (:mod:`ledger_service.csv_cells`).
    The file can be edited and uploaded again: the reader ignores the extra columns."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_EXPORT_COLUMNS)
    for line in lines:
        writer.writerow(
            safe_row(
                [
                    line.store_id,
                    line.sku,
                    line.on_hand,
                    line.low_water,
                    line.reserved,
                    line.available,
                ]
            )
        )
    return out.getvalue()


# --- headquarters -------------------------------------------------------------------------


def _optional_count(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNITS:
        raise errors.ValidationFailed(f"{name} must be a whole number from 0 to {MAX_UNITS}")
    return value


class StockCommands(CommandRunner):
    """Headquarters' stock management: what is on hand, and when to warn."""

    def set_stock(
        self,
        actor: Actor,
        store_id: str,
        sku: str,
        *,
        on_hand: int | None = None,
        low_water: int | None = None,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Set the units on hand and/or the low-water mark of ``sku`` at ``store_id``
        (headquarters only); a line not there yet starts at 0 and 0.

        Refused with VALIDATION_FAILED when ``on_hand`` would fall below what pending
        pickups have reserved, STORE_NOT_FOUND / PRODUCT_NOT_FOUND for unknown keys.
        """
        require_role(actor, WRITERS)
        valid(check_store_id, store_id)
        values = {
            k: v
            for k, v in (
                ("on_hand", _optional_count(on_hand, "on_hand")),
                ("low_water", _optional_count(low_water, "low_water")),
            )
            if v is not None
        }
        with self._run(within) as conn:
            line = self._line_for_update(conn, store_id, sku)
            target = {"on_hand": line.on_hand, "low_water": line.low_water, **values}
            return self._write(conn, line, target["on_hand"], target["low_water"])

    def adjust_stock(
        self,
        actor: Actor,
        store_id: str,
        sku: str,
        delta: int,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Add ``delta`` units (negative: take away) to what ``store_id`` has on hand of
        ``sku`` (headquarters only): a delivery came in, a count found breakage.

        Refused with VALIDATION_FAILED when the result would be negative or below the
        reserved units.
        """
        require_role(actor, WRITERS)
        valid(check_store_id, store_id)
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise errors.ValidationFailed("delta must be a non-zero whole number")
        with self._run(within) as conn:
            line = self._line_for_update(conn, store_id, sku)
            return self._write(conn, line, line.on_hand + delta, line.low_water)

    def import_stock(
        self, actor: Actor, rows: Iterable[StockRow], *, within: Connection | None = None
    ) -> int:
        """Apply the rows of a stock CSV in one transaction: all of them, or none (the
        first refusal names its line). Returns the number of lines written."""
        require_role(actor, WRITERS)
        count = 0
        with self._run(within) as conn:
            for row in rows:
                try:
                    self.set_stock(
                        actor,
                        row.store_id,
                        row.sku,
                        on_hand=row.on_hand,
                        low_water=row.low_water,
                        within=conn,
                    )
                except errors.LedgerError as exc:
                    raise type(exc)(f"line {row.line}: {exc.detail}") from None
                count += 1
        return count

    def list_stock(
        self, actor: Actor, *, store_id: str | None = None, sku: str | None = None
    ) -> list[dict[str, Any]]:
        """Stock lines, by store and SKU; a store token sees only its own store's."""
        require_role(actor, READERS)
        if actor.role == "store":
            store_id = actor.store_id
        with read_transaction(self._engine) as conn:
            return [line.to_json() for line in stock_lines(conn, store_id=store_id, sku=sku)]

    def _line_for_update(self, conn: Connection, store_id: str, sku: str) -> StockLine:
        """The line, locked; a new line (0 on hand) when the store and product exist."""
        row = conn.execute(
            sa.select(stock)
            .where(stock.c.store_id == store_id, stock.c.sku == sku)
            .with_for_update()
        ).first()
        if row is not None:
            return _line(row)
        if conn.execute(sa.select(stores.c.id).where(stores.c.id == store_id)).first() is None:
            raise errors.StoreNotFound(f"store {store_id} does not exist")
        if conn.execute(sa.select(products.c.sku).where(products.c.sku == sku)).first() is None:
            raise errors.ProductNotFound(f"no product {sku[:64]!r}")
        conn.execute(
            sa.insert(stock),
            {
                "store_id": store_id,
                "sku": sku,
                "on_hand": 0,
                "reserved": 0,
                "low_water": 0,
                "updated_at": self._now(),
            },
        )
        return StockLine(store_id, sku, 0, 0, 0)

    def _write(
        self, conn: Connection, line: StockLine, on_hand: int, low_water: int
    ) -> dict[str, Any]:
        if not 0 <= on_hand <= MAX_UNITS:
            raise errors.ValidationFailed(f"on_hand must stay from 0 to {MAX_UNITS}")
        # Conditional, as reserve() is: a pickup reserving meanwhile cannot be undercut.
        done = conn.execute(
            sa.update(stock)
            .where(
                stock.c.store_id == line.store_id,
                stock.c.sku == line.sku,
                stock.c.reserved <= on_hand,
            )
            .values(on_hand=on_hand, low_water=low_water, updated_at=self._now())
        )
        if done.rowcount != 1:
            raise errors.ValidationFailed(
                f"on_hand {on_hand} is below the units reserved for pending pickups"
            )
        row = conn.execute(
            sa.select(stock).where(stock.c.store_id == line.store_id, stock.c.sku == line.sku)
        ).one()
        return _line(row).to_json()
