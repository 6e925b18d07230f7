"""The chain's stores: headquarters adds and describes them; every role may list them.

A store has an id, a name and a region, and where customers find it (all optional):
address, city, opening hours and coordinates. The customer chooses a pickup store among
those that stock the product, grouped by city (:func:`ledger_service.service.stock.pickup_stores`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.cards import text as check_text
from ledger_service.schema import stores
from ledger_service.service.checks import READERS, WRITERS, require_role, valid
from ledger_service.service.rows import store_row
from ledger_service.service.transaction import CommandRunner

TEXT_FIELDS = {"name": 200, "region": 64, "address": 500, "city": 64, "opening_hours": 200}
"""A store's text fields and their longest length."""
REQUIRED = frozenset({"name", "region"})
PLACE_FIELDS = ("address", "city", "opening_hours", "latitude", "longitude")
"""Where customers find a store: optional, ``None`` clears one."""
EDITABLE = frozenset(TEXT_FIELDS) | frozenset(PLACE_FIELDS)


def store_detail(row: Row[Any]) -> dict[str, Any]:
    """A store as the ledger answers it: id, name, region and where to find it."""
    return {
        "id": row.id,
        "name": row.name,
        "region": row.region,
        **{name: getattr(row, name) for name in PLACE_FIELDS},
    }


def _coordinate(value: object, name: str, limit: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number) or abs(number) > limit:
        raise ValueError(f"{name} must be from -{limit:g} to {limit:g}")
    return number


def store_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The checked column values of ``changes`` (any of :data:`EDITABLE`); ``None`` clears
    an optional field. Raises ``ValueError`` for an unknown, empty or too long field.

    >>> store_fields({"city": " 上海 ", "latitude": 31.23, "address": None})
    {'city': '上海', 'latitude': 31.23, 'address': None}
    >>> store_fields({"latitude": 91})
    Traceback (most recent call last):
    ...
    ValueError: latitude must be from -90 to 90
    """
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise ValueError(f"unknown store fields: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("latitude", "longitude"):
            out[name] = _coordinate(value, name, 90.0 if name == "latitude" else 180.0)
        else:
            optional = name not in REQUIRED
            out[name] = check_text(value, name, limit=TEXT_FIELDS[name], optional=optional)
    return out


class StoreCommands(CommandRunner):
    """Creating, describing and listing stores."""

    def create_store(
        self,
        actor: Actor,
        store_id: str,
        name: str,
        region: str,
        *,
        within: Connection | None = None,
        **place: Any,
    ) -> dict[str, Any]:
        """Add a store of the chain (headquarters only). ``place``: any of address, city,
        opening_hours, latitude, longitude."""
        require_role(actor, WRITERS)
        unknown = sorted(set(place) - set(PLACE_FIELDS))
        if unknown:
            raise errors.ValidationFailed(f"unknown store fields: {', '.join(unknown)}")
        row = {
            "id": valid(check_store_id, store_id),
            "created_at": self._now(),
            **valid(store_fields, {"name": name, "region": region, **place}),
        }
        exists = errors.StoreExists(f"store {row['id']} already exists")
        try:
            with self._run(within) as conn:
                if store_row(conn, row["id"]) is not None:
                    raise exists
                conn.execute(sa.insert(stores), row)
                created = store_row(conn, row["id"])
        except sa.exc.IntegrityError:
            # A concurrent twin inserted it first: its savepoint is rolled back.
            raise exists from None
        assert created is not None
        return store_detail(created)

    def update_store(
        self,
        actor: Actor,
        store_id: str,
        changes: Mapping[str, Any],
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Change a store's name, region or place (headquarters only): the fields in
        ``changes`` are set, the others kept; ``None`` clears an optional one."""
        require_role(actor, WRITERS)
        values = valid(store_fields, changes)
        with self._run(within) as conn:
            if store_row(conn, store_id) is None:
                raise errors.StoreNotFound(f"store {str(store_id)[:64]} does not exist")
            if values:
                conn.execute(sa.update(stores).where(stores.c.id == store_id).values(**values))
            row = store_row(conn, store_id)
        assert row is not None
        return store_detail(row)

    def list_stores(self, actor: Actor) -> list[dict[str, Any]]:
        """Every store, by id."""
        require_role(actor, READERS)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(stores).order_by(stores.c.id)).all()
        return [store_detail(row) for row in rows]
