"""What a new card is made of, checked before anything is issued.

``parse_card_spec`` turns one card of an issuance request (or one CSV row) into a typed
:class:`CardSpec`, or raises ``ValueError`` (``TypeError`` for a value of the wrong JSON
type) naming the field that is wrong. Stores are
checked here for form only; whether they exist is the ledger's business.

    >>> from ledger_service.domain.cards import parse_card_spec
    >>> spec = parse_card_spec({"product": "Moutai 500ml", "face_value": 150000,
    ...                         "currency": "CNY", "allowed_regions": ["north"]})
    >>> spec.face_value, spec.allowed_regions, spec.expires_at
    (150000, ('north',), None)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from ledger_service.events import MAX_SAFE_INTEGER

STORE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CURRENCY = re.compile(r"[A-Z]{3}")
FIELDS = frozenset(
    {
        "product",
        "sku",
        "face_value",
        "currency",
        "allowed_stores",
        "allowed_regions",
        "expires_at",
        "holder_ref",
        "row_key",
    }
)


@dataclass(frozen=True)
class CardSpec:
    """A card to issue. ``face_value`` is in minor units (cents, fen) of ``currency``.

    With a ``sku`` the card's kind, face value, currency and units come from the product
    catalogue (``product`` then only overrides the name); without, it is a pickup card for
    the free-text ``product``.
    """

    product: str | None
    sku: str | None = None
    face_value: int | None = None
    currency: str | None = None
    allowed_stores: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    expires_at: datetime | None = None
    holder_ref: str | None = None
    row_key: str | None = None


@overload
def text(value: object, name: str, *, limit: int = 200) -> str: ...
@overload
def text(value: object, name: str, *, limit: int = 200, optional: bool) -> str | None: ...
def text(value: object, name: str, *, limit: int = 200, optional: bool = False) -> str | None:
    """``value`` as a stripped non-empty string of at most ``limit`` characters."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


def store_id(value: object, name: str = "store_id") -> str:
    """A well-formed store id (letters, digits, ``_.-``; up to 64 characters)."""
    if not isinstance(value, str) or not STORE_ID.fullmatch(value):
        raise ValueError(f"{name} must be 1-64 letters, digits, '_', '.' or '-', got {value!r}")
    return value


def timestamp(value: object, name: str) -> datetime | None:
    """An RFC 3339 timestamp with a UTC offset (or a datetime), as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} is not an RFC 3339 timestamp: {value!r}") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timestamp with a UTC offset, e.g. 2027-01-31T23:59:59Z")
    # Events carry milliseconds: a finer stored time would differ from the logged one.
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


def _names(value: object, name: str, check: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list")
    return tuple(sorted({check(item, f"{name} item") for item in value}))


def _region(value: object, name: str) -> str:
    return text(value, name, limit=64)


def parse_card_spec(raw: Mapping[str, Any]) -> CardSpec:
    """Check one card of an issuance request; raise ValueError/TypeError naming the bad field."""
    if not isinstance(raw, Mapping):
        raise TypeError("each card must be an object")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(FIELDS))}")
    face_value = raw.get("face_value")
    if face_value is not None and (
        isinstance(face_value, bool)
        or not isinstance(face_value, int)
        or not 0 <= face_value <= MAX_SAFE_INTEGER
    ):
        raise ValueError("face_value must be a whole number of minor units (e.g. cents), >= 0")
    currency = raw.get("currency")
    sku = raw.get("sku")
    if sku is not None and face_value is not None:
        raise ValueError("a card with a sku takes its face value and currency from the product")
    if sku is None and raw.get("product") is None:
        raise ValueError("product must be a non-empty string (or give a sku)")
    if (face_value is None) != (currency is None):
        raise ValueError("face_value and currency come together, or neither")
    if currency is not None and (not isinstance(currency, str) or not CURRENCY.fullmatch(currency)):
        raise ValueError(f"currency must be an ISO 4217 code like CNY, got {currency!r}")
    return CardSpec(
        product=text(raw.get("product"), "product", optional=True),
        sku=None if sku is None else store_id(sku, "sku"),
        face_value=face_value,
        currency=currency,
        allowed_stores=_names(raw.get("allowed_stores"), "allowed_stores", store_id),
        allowed_regions=_names(raw.get("allowed_regions"), "allowed_regions", _region),
        expires_at=timestamp(raw.get("expires_at"), "expires_at"),
        holder_ref=text(raw.get("holder_ref"), "holder_ref", optional=True),
        row_key=text(raw.get("row_key"), "row_key", optional=True),
    )
