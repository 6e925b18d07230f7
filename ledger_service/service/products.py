"""The product catalogue: headquarters adds products; every role may read them.

A product fixes what its cards are: their kind (pickup, stored value, count), face value
and currency (minor units), and ``units`` (the items of a pickup card, the uses of a
count card).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.cards import CURRENCY
from ledger_service.domain.cards import store_id as check_id
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import CARD_KINDS
from ledger_service.events import MAX_SAFE_INTEGER
from ledger_service.schema import products
from ledger_service.service.checks import READERS, WRITERS, require_role, valid
from ledger_service.service.events_log import chunks
from ledger_service.service.rows import stamp, utc
from ledger_service.service.transaction import CommandRunner


def check_product(
    kind: object, face_value: object, currency: object, units: object
) -> tuple[str, int | None, str | None, int]:
    """A product's kind, face value, currency and units, or ValueError saying what is wrong.

    Stored-value products need a face value (the opening balance) and its currency.

        >>> check_product("count", None, None, 10)
        ('count', None, None, 10)
        >>> check_product("stored_value", None, None, 1)
        Traceback (most recent call last):
        ...
        ValueError: a stored_value product needs face_value and currency
    """
    if kind not in CARD_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CARD_KINDS)}, got {kind!r}")
    if face_value is not None and (
        isinstance(face_value, bool)
        or not isinstance(face_value, int)
        or not 0 <= face_value <= MAX_SAFE_INTEGER
    ):
        raise ValueError("face_value must be a whole number of minor units (e.g. cents), >= 0")
    if (face_value is None) != (currency is None):
        raise ValueError("face_value and currency come together, or neither")
    if currency is not None and (not isinstance(currency, str) or not CURRENCY.fullmatch(currency)):
        raise ValueError(f"currency must be an ISO 4217 code like CNY, got {currency!r}")
    if kind == "stored_value" and face_value is None:
        raise ValueError("a stored_value product needs face_value and currency")
    if isinstance(units, bool) or not isinstance(units, int) or not 1 <= units <= 1_000_000:
        raise ValueError("units must be a whole number from 1 to 1000000")
    return str(kind), face_value, currency, units


def product_json(row: Row[Any]) -> dict[str, Any]:
    """A product as the ledger answers it."""
    return {
        "sku": row.sku,
        "name_zh": row.name_zh,
        "name_en": row.name_en,
        "kind": row.kind,
        "face_value": row.face_value,
        "currency": row.currency,
        "units": row.units,
        "created_at": stamp(utc(row.created_at)),
    }


def products_of(conn: Connection, skus: Iterable[str]) -> dict[str, Row[Any]]:
    """The catalogue rows of ``skus``; PRODUCT_NOT_FOUND naming any that is missing."""
    wanted = sorted(set(skus))
    found: dict[str, Row[Any]] = {}
    for chunk in chunks(wanted):
        for row in conn.execute(sa.select(products).where(products.c.sku.in_(chunk))):
            found[row.sku] = row
    missing = [sku for sku in wanted if sku not in found]
    if missing:
        raise errors.ProductNotFound(f"unknown product(s): {', '.join(missing[:10])}")
    return found


class ProductCommands(CommandRunner):
    """The catalogue: create, list and read products."""

    def create_product(
        self,
        actor: Actor,
        sku: str,
        name_zh: str,
        name_en: str,
        kind: str,
        *,
        face_value: int | None = None,
        currency: str | None = None,
        units: int = 1,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Add a product to the catalogue (headquarters only); PRODUCT_EXISTS for a
        repeated SKU."""
        require_role(actor, WRITERS)
        kind, face_value, currency, units = valid(check_product, kind, face_value, currency, units)
        row = {
            "sku": valid(check_id, sku, "sku"),
            "name_zh": valid(check_text, name_zh, "name_zh"),
            "name_en": valid(check_text, name_en, "name_en"),
            "kind": kind,
            "face_value": face_value,
            "currency": currency,
            "units": units,
            "created_at": self._now(),
        }
        exists = errors.ProductExists(f"product {row['sku']} already exists")
        try:
            with self._run(within) as conn:
                if conn.execute(
                    sa.select(products.c.sku).where(products.c.sku == row["sku"])
                ).first():
                    raise exists
                conn.execute(sa.insert(products), row)
        except sa.exc.IntegrityError:
            # A concurrent twin inserted it first: its savepoint is rolled back.
            raise exists from None
        return {**row, "created_at": stamp(row["created_at"])}

    def list_products(self, actor: Actor) -> list[dict[str, Any]]:
        """Every product, by SKU."""
        require_role(actor, READERS)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(products).order_by(products.c.sku)).all()
        return [product_json(row) for row in rows]

    def get_product(self, actor: Actor, sku: str) -> dict[str, Any]:
        """One product; PRODUCT_NOT_FOUND if the catalogue has none with this SKU."""
        require_role(actor, READERS)
        sku = valid(check_id, sku, "sku")
        with read_transaction(self._engine) as conn:
            return product_json(products_of(conn, [sku])[sku])
