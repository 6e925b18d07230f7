"""The books: what the merchant owes its card holders, what each store took in a day, what
expired unspent, by product and by channel — as pure functions over card and event records.

These functions are the definition; :mod:`ledger_service.books_sql` computes the same
figures with SQL aggregates (a test holds the two to a worked example computed by hand).
Money is in integers of minor units, always per currency.

The rules:

* A card that was never sold (``INACTIVE``, or blocked while inactive) owes nothing.
* Outstanding liability: a stored-value card owes its balance; a count card owes the
  value of its uses left (face value ÷ units per use, rounded down to the minor unit);
  a pickup card owes its face value until the goods are handed over — also while a
  pickup is under way. Used, voided and expired cards owe nothing, and neither does an
  unused card whose date has passed before the expiry job wrote its event.
* Breakage: the value left on a sold card when it expired (or when its date passed and
  the expiry job has yet to run). An expired card counts as sold when its sale was
  recorded (``activated_at``); an expired card that was never sold lost nothing.
* The daily close (日结) of a store and business day: redemptions (stored value: the
  amounts taken; count cards: the uses' value; pickup cards: the face value) and pickups
  handed over, less refunds; besides, sales (activations, at the sale price) and loads.

    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 12, 2, tzinfo=UTC)
    >>> owed = [
    ...     CardRecord("A", "stored_value", "CLAIMED", currency="CNY", face_value=50000,
    ...                balance=12050),
    ...     CardRecord("B", "pickup", "ISSUED", currency="CNY", face_value=99900),
    ...     CardRecord("C", "pickup", "INACTIVE", currency="CNY", face_value=99900),
    ... ]
    >>> liability(owed, now)
    {'CNY': 111950}
    >>> money(111950, "CNY")
    '¥1,119.50'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from ledger_service.business_days import business_day

INACTIVE = "INACTIVE"
BLOCKED = "BLOCKED"
EXPIRED = "EXPIRED"
FINAL_STATES = frozenset({"REDEEMED", "PICKUP_COMPLETED", "VOIDED", EXPIRED})
"""States after which a card owes nothing."""
EXPIRING_STATES = frozenset({"ISSUED", "CLAIMED", "TRANSFERRED"})
"""The states in which a card expires when its date passes (the lifecycle's UNUSED)."""
CLOSE_TYPES = ("REDEEMED", "PICKUP_COMPLETED", "REFUNDED", "ACTIVATED", "LOADED")
"""The event types the daily close reads."""
NO_STORE = ""
"""The daily close's key for what happened outside any store (headquarters, delivery)."""

_SYMBOLS = {
    "CNY": "¥",
    "JPY": "¥",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "HKD": "HK$",
    "MOP": "MOP$",
    "TWD": "NT$",
    "SGD": "S$",
}
_EXPONENTS = {"JPY": 0, "KRW": 0, "TWD": 2}
"""Minor-unit exponents (ISO 4217) that differ from the usual 2."""


def money(minor: int, currency: str | None) -> str:
    """``minor`` units of ``currency`` for people: symbol, thousands separators, decimals.

    >>> money(123450, "CNY"), money(-5, "USD"), money(1200, "JPY"), money(99, "CHF")
    ('¥1,234.50', '-$0.05', '¥1,200', '0.99 CHF')
    >>> money(7, None)
    '0.07'
    """
    code = (currency or "").upper()
    exponent = _EXPONENTS.get(code, 2)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**exponent)
    number = f"{whole:,}" + (f".{part:0{exponent}d}" if exponent else "")
    if code in _SYMBOLS:
        return f"{sign}{_SYMBOLS[code]}{number}"
    return f"{sign}{number}" + (f" {code}" if code else "")


def plain_amount(minor: int, currency: str | None) -> str:
    """``minor`` units as a plain decimal for spreadsheets (no symbol, no separators).

    >>> plain_amount(123450, "CNY"), plain_amount(-1200, "JPY")
    ('1234.50', '-1200')
    """
    exponent = _EXPONENTS.get((currency or "").upper(), 2)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}" + (f".{part:0{exponent}d}" if exponent else "")


# --- cards -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardRecord:
    """What the books need of a card (a ``cards`` row with its product's ``units``)."""

    number: str
    kind: str
    state: str
    blocked_from: str | None = None
    currency: str | None = None
    face_value: int | None = None
    balance: int | None = None
    units: int = 1
    sku: str | None = None
    channel_id: str | None = None
    sale_price: int | None = None
    activated_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def underlying_state(self) -> str:
        """The state a blocked card is held in; otherwise the state itself."""
        return self.blocked_from if self.state == BLOCKED and self.blocked_from else self.state

    def past_date(self, as_of: datetime) -> bool:
        """Whether the card would expire at ``as_of`` (event written or not)."""
        return (
            self.underlying_state in EXPIRING_STATES
            and self.expires_at is not None
            and self.expires_at <= as_of
        )

    @property
    def sold(self) -> bool:
        """Whether the card was sold: its sale is recorded, or it is in a state that only
        a sold card reaches."""
        return self.activated_at is not None or self.underlying_state not in (INACTIVE, EXPIRED)

    @property
    def value_left(self) -> int:
        """What the card is worth now, if it still counts: balance, uses' value or face."""
        if self.kind == "stored_value":
            return self.balance or 0
        if self.kind == "count":
            return per_use(self.face_value, self.units) * (self.balance or 0)
        return self.face_value or 0


def per_use(face_value: int | None, units: int) -> int:
    """The value of one use of a count card: its face value over its uses, rounded down.

    >>> per_use(10000, 3), per_use(None, 5)
    (3333, 0)
    """
    return (face_value or 0) // max(units, 1)


def owes(card: CardRecord, as_of: datetime) -> int:
    """What ``card`` owes its holder at ``as_of`` (minor units of its currency)."""
    state = card.underlying_state
    if state == INACTIVE or state in FINAL_STATES or card.past_date(as_of):
        return 0
    return card.value_left


def broken(card: CardRecord, as_of: datetime) -> int:
    """The value ``card`` lost by expiring unspent, as of ``as_of`` (0 if it did not)."""
    if not card.sold:
        return 0
    if card.state == EXPIRED or card.past_date(as_of):
        return card.value_left
    return 0


def _per_currency(
    cards: Iterable[CardRecord], value: Callable[[CardRecord], int]
) -> dict[str, int]:
    totals: dict[str, int] = {}
    for card in cards:
        amount = value(card)
        if amount:
            key = card.currency or ""
            totals[key] = totals.get(key, 0) + amount
    return totals


def liability(cards: Iterable[CardRecord], as_of: datetime) -> dict[str, int]:
    """Outstanding liability per currency: unspent balances, uses and unused pickup cards."""
    return _per_currency(cards, lambda card: owes(card, as_of))


def breakage(cards: Iterable[CardRecord], as_of: datetime) -> dict[str, int]:
    """Breakage per currency: the value left on sold cards that expired."""
    return _per_currency(cards, lambda card: broken(card, as_of))


# --- events: the daily close ---------------------------------------------------------------


@dataclass(frozen=True)
class ValueEvent:
    """An event the daily close reads, with what it needs of its card."""

    type: str
    occurred_at: datetime
    store_id: str | None
    kind: str
    currency: str | None = None
    amount: int | None = None
    face_value: int | None = None
    units: int = 1
    sale_price: int | None = None
    sku: str | None = None
    channel_id: str | None = None


def event_value(event: ValueEvent) -> int:
    """The money an event moved (positive), as the daily close counts it.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 12, 1, tzinfo=UTC)
    >>> event_value(ValueEvent("REDEEMED", at, "S1", "stored_value", "CNY", amount=-3000))
    3000
    >>> event_value(ValueEvent("REDEEMED", at, "S1", "count", "CNY", -2, face_value=10000,
    ...                        units=10))
    2000
    """
    if event.type == "ACTIVATED":
        return event.sale_price or 0
    if event.type == "PICKUP_COMPLETED" or (event.type == "REDEEMED" and event.kind == "pickup"):
        return event.face_value or 0
    moved = abs(event.amount or 0)
    return per_use(event.face_value, event.units) * moved if event.kind == "count" else moved


@dataclass
class DailyClose:
    """One store's business day in one currency: counts and money (minor units)."""

    day: str
    store_id: str
    currency: str
    redeemed: int = 0
    redeemed_value: int = 0
    picked_up: int = 0
    picked_up_value: int = 0
    refunded: int = 0
    refunded_value: int = 0
    sold: int = 0
    sold_value: int = 0
    loaded: int = 0
    loaded_value: int = 0

    @property
    def net(self) -> int:
        """What the store handed out in the day: redemptions and pickups less refunds."""
        return self.redeemed_value + self.picked_up_value - self.refunded_value

    def add(self, type_: str, count: int, value: int) -> None:
        """Count ``count`` events of ``type_`` worth ``value`` in all."""
        name = _CLOSE_FIELDS[type_]
        setattr(self, name, getattr(self, name) + count)
        setattr(self, f"{name}_value", getattr(self, f"{name}_value") + value)


_CLOSE_FIELDS = {
    "REDEEMED": "redeemed",
    "PICKUP_COMPLETED": "picked_up",
    "REFUNDED": "refunded",
    "ACTIVATED": "sold",
    "LOADED": "loaded",
}


def close_rows(
    groups: Iterable[tuple[str, str | None, str | None, str, int, int]],
) -> list[DailyClose]:
    """Daily-close rows from ``(day, store_id, currency, type, count, value)`` groups,
    newest day first, then by store (outside any store last) and currency."""
    rows: dict[tuple[str, str, str], DailyClose] = {}
    for day, store_id, currency, type_, count, value in groups:
        key = (day, store_id or NO_STORE, currency or "")
        row = rows.get(key) or rows.setdefault(key, DailyClose(*key))
        row.add(type_, count, value)
    ordered = sorted(rows.values(), key=lambda r: (r.store_id == NO_STORE, r.store_id, r.currency))
    return sorted(ordered, key=lambda r: r.day, reverse=True)


def daily_close(events: Iterable[ValueEvent], zone: tzinfo) -> list[DailyClose]:
    """The daily close of every store and business day (in ``zone``) ``events`` touch."""
    return close_rows(
        (
            business_day(e.occurred_at, zone).isoformat(),
            e.store_id,
            e.currency,
            e.type,
            1,
            event_value(e),
        )
        for e in events
        if e.type in _CLOSE_FIELDS
    )


# --- by product and by channel ------------------------------------------------------------


@dataclass
class Figures:
    """What one product or channel did, in one currency."""

    key: str
    currency: str
    sold: int = 0
    sales: int = 0
    face_value_sold: int = 0
    liability: int = 0
    breakage: int = 0
    redeemed_value: int = 0


NO_KEY = ""
"""The key of cards without a product (SKU) or sold through no channel."""


def figures_by(
    cards: Iterable[CardRecord],
    events: Iterable[ValueEvent],
    key: Callable[[CardRecord | ValueEvent], str | None],
    as_of: datetime,
) -> list[Figures]:
    """Sales, liability, breakage and redemptions grouped by ``key`` (product or channel)
    and currency; ``events`` give the redemptions (of any period the caller chose)."""
    table: dict[tuple[str, str], Figures] = {}

    def row(item: CardRecord | ValueEvent) -> Figures:
        ident = (key(item) or NO_KEY, item.currency or "")
        return table.get(ident) or table.setdefault(ident, Figures(*ident))

    for card in cards:
        figures = row(card)
        if card.activated_at is not None:
            figures.sold += 1
            figures.sales += card.sale_price or 0
            figures.face_value_sold += card.face_value or 0
        figures.liability += owes(card, as_of)
        figures.breakage += broken(card, as_of)
    for event in events:
        if event.type in ("REDEEMED", "PICKUP_COMPLETED"):
            row(event).redeemed_value += event_value(event)
        elif event.type == "REFUNDED":
            row(event).redeemed_value -= event_value(event)
    rows = [f for f in table.values() if f.sold or f.liability or f.breakage or f.redeemed_value]
    return sorted(rows, key=lambda f: (f.key == NO_KEY, f.key, f.currency))


def by_product(item: CardRecord | ValueEvent) -> str | None:
    """Group by product (SKU)."""
    return item.sku


def by_channel(item: CardRecord | ValueEvent) -> str | None:
    """Group by sales channel."""
    return item.channel_id


def totals(values: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Per-currency sums added up.

    >>> totals([{"CNY": 5}, {"CNY": 2, "USD": 1}])
    {'CNY': 7, 'USD': 1}
    """
    out: dict[str, int] = {}
    for mapping in values:
        for currency, amount in mapping.items():
            out[currency] = out.get(currency, 0) + amount
    return out
