"""The API's request and response bodies, declared once for validation and documentation.

Requests are checked strictly: unknown members, wrong JSON types (``true`` or ``1.5`` for
an integer, a number for a string), out-of-range values and control characters are all
refused with ``VALIDATION_FAILED`` and a list of ``errors`` (``loc``, ``message``; never
the submitted value, which may be a redemption code). The OpenAPI document is generated
from the same models, so the document and the checks cannot drift apart; what the ledger
checks further (text that is only white space, real calendar days) is stated in the
patterns too, and a card number's check character, which no pattern can state, is named
by a custom ``format`` and described.

    >>> from ledger_service.schemas import CreateStore, parse
    >>> parse(CreateStore, b'{"store_id": "S1", "name": "Flagship", "region": "north"}').store_id
    'S1'
    >>> parse(CreateStore, b'{"store_id": "S1", "name": "x", "region": "n", "x": 1}')
    Traceback (most recent call last):
    ...
    ledger_service.errors.ValidationFailed: the request body does not match the schema
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ledger_service.domain import cards as card_rules
from ledger_service.domain import numbers
from ledger_service.errors import ValidationFailed
from ledger_service.events import ReasonCode

MAX_CARDS_PER_BATCH = 10_000
MAX_FACE_VALUE = 10**12
"""Face values are integers in the currency's minor unit (100000 = 1,000.00 CNY)."""
TEXT_LIMIT = 200
"""The longest free text the ledger keeps (``ledger_service.domain.cards.text``'s limit)."""
PATH_LIMIT = 256
"""The longest path parameter the endpoints look at (``ledger_service.endpoint.check_path``)."""


def _class(characters: str) -> str:
    """``characters`` as the inside of a regex character class, runs as ranges, read alike
    by ECMA-262 (the document), Rust (pydantic) and Python (Hypothesis)."""
    points = sorted(set(map(ord, characters)))
    runs: list[list[int]] = []
    for point in points:
        if runs and runs[-1][1] == point - 1:
            runs[-1][1] = point
        else:
            runs.append([point, point])
    return "".join(
        _char(low) if low == high else f"{_char(low)}{'' if high == low + 1 else '-'}{_char(high)}"
        for low, high in runs
    )


def _char(point: int) -> str:
    return chr(point) if chr(point).isalnum() and point < 0x80 else f"\\u{point:04x}"


def _between(low: int, high: int) -> str:
    return "".join(map(chr, range(low, high + 1)))


# No control characters anywhere: they have no business in these fields, and PostgreSQL
# cannot store NUL at all.
_CONTROL = _class(_between(0x00, 0x1F) + "\x7f")
# Text the ledger strips to nothing is refused as empty, so one character must be neither
# control nor white space (str.isspace(): every such character lies below U+3001).
_SPACE = _class("".join(c for c in map(chr, range(0x3001)) if c.isspace() and c >= " "))
PRINTABLE_PATTERN = f"^[^{_CONTROL}]*$"
VISIBLE_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"
PATH_PATTERN = f"^[^{_CONTROL}/]+$"
"""A path parameter: printable, and no ``/`` (that would be another route)."""
STORE_ID_PATTERN = f"^{card_rules.STORE_ID.pattern}$"
CURRENCY_PATTERN = f"^{card_rules.CURRENCY.pattern}$"


def _card_number_pattern(separators: str) -> str:
    symbols = "".join(sorted(set(numbers.ALPHABET + numbers.ALPHABET.lower())))
    gap = f"[{_class(separators)}]*"
    return f"^{gap}(?:[{_class(symbols)}]{gap}){{{numbers.LENGTH}}}$"


CARD_NUMBER_PATTERN = _card_number_pattern(numbers.SEPARATORS)
"""What :func:`~ledger_service.domain.numbers.normalize_card_number` accepts, but for the
check character, which no pattern can state: hence :data:`CARD_NUMBER_FORMAT`."""
PATH_CARD_NUMBER_PATTERN = _card_number_pattern("".join(c for c in numbers.SEPARATORS if c >= " "))
"""The same in a path, where no control character (a tab) gets past the path check."""
CARD_NUMBER_FORMAT = "cardtrail-card-number"
_CARD_NUMBER_DOC = (
    f"{numbers.LENGTH} symbols of {numbers.ALPHABET} (lower case and the separators "
    f"{numbers.SEPARATORS!r} are accepted); the last is a check character: the sum of "
    f"every symbol's value (its index in that alphabet) times its weight "
    f"({numbers.LENGTH} for the first down to 1 for the check character) is a multiple "
    f"of {len(numbers.ALPHABET)}. Anything else is INVALID_CARD_NUMBER."
)
ADDRESS_PATTERN = "^0x[0-9a-fA-F]{40}$"
_ADDRESS_DOC = "An Ethereum address, in any case; answers spell it with its EIP-55 checksum."

# RFC 3339 times that Python's datetime.fromisoformat reads, every day of it real (leap
# years included); years 1000-9998 so that any offset still converts to UTC.
_YEAR = "(?:1[0-9]{3}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
_LEAP_YEAR = "(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[13579][26]|[2468][048])00)"
_DATE = (
    f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    f"|{_LEAP_YEAR}-02-29)"
)
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
TIMESTAMP_PATTERN = (
    f"^{_DATE}T{_TIME}(?:\\.[0-9]{{1,6}})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
SIGNED_AT_PATTERN = f"^{_DATE}T{_TIME}\\.[0-9]{{3}}Z$"
"""A device signature's time: UTC, milliseconds (``ledger_service.devices.timestamp``)."""


def _doc(**schema: Any) -> Any:
    return Field(json_schema_extra=schema)


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("must not be 0")
    return value


def _whole(value: object) -> object:
    # JSON Schema counts 100.0 as an integer, so the document cannot refuse it: nor may we.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


StoreId: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=STORE_ID_PATTERN)
]
Name: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=TEXT_LIMIT, pattern=VISIBLE_PATTERN)
]
Region: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=VISIBLE_PATTERN)
]
Ref: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=VISIBLE_PATTERN)
]
Reason: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=TEXT_LIMIT, pattern=VISIBLE_PATTERN)
]
RedemptionCode: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 -]+$")
]
Currency: TypeAlias = Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN)]
FaceValue: TypeAlias = Annotated[
    Annotated[int, Field(ge=0, le=MAX_FACE_VALUE)], BeforeValidator(_whole)
]
Amount: TypeAlias = Annotated[
    Annotated[int, Field(ge=1, le=MAX_FACE_VALUE)], BeforeValidator(_whole)
]
"""An amount of money (minor units) or of uses, above zero."""
SignedAmount: TypeAlias = Annotated[
    Annotated[int, Field(ge=-MAX_FACE_VALUE, le=MAX_FACE_VALUE)],
    BeforeValidator(_whole),
    AfterValidator(_not_zero),
    _doc(**{"not": {"const": 0}}),
]
"""A signed change of a balance; zero changes nothing and is refused."""
LeafIndexValue: TypeAlias = Annotated[
    Annotated[int, Field(ge=0, le=2**53 - 1)], BeforeValidator(_whole)
]
Timestamp: TypeAlias = Annotated[
    str, StringConstraints(pattern=TIMESTAMP_PATTERN), _doc(format="date-time")
]
CardNumber: TypeAlias = Annotated[
    str,
    StringConstraints(max_length=64, pattern=CARD_NUMBER_PATTERN),
    _doc(format=CARD_NUMBER_FORMAT, description=_CARD_NUMBER_DOC),
]
Address: TypeAlias = Annotated[
    str,
    StringConstraints(pattern=ADDRESS_PATTERN),
    _doc(description=_ADDRESS_DOC),
]
PickupId: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=PRINTABLE_PATTERN)
]
PickupDay: TypeAlias = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), _doc(format="date")
]
Serial: TypeAlias = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z./-]{3,63}$")]
Serials: TypeAlias = Annotated[list[Serial], Field(max_length=50)]
CounterCode: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 -]+$")
]
Credential: TypeAlias = Literal["rotating_code", "card_code"]

# Path parameters: documented only, the routes check them (the models never see them).
PathText: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=PATH_LIMIT, pattern=PATH_PATTERN)
]
PathCardNumber: TypeAlias = Annotated[
    str,
    StringConstraints(max_length=PATH_LIMIT, pattern=PATH_CARD_NUMBER_PATTERN),
    _doc(format=CARD_NUMBER_FORMAT, description=_CARD_NUMBER_DOC),
]


PRESENT = "present"
"""In :func:`any_of`: the member is required and not null."""
NULL = "null"
"""In :func:`any_of`: the member is absent or null."""


def any_of(*branches: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A model's ``json_schema_extra`` stating its cross-member validator in JSON Schema.

    The body matches one of ``branches``; each maps members to :data:`PRESENT`,
    :data:`NULL` or a schema of their own. A present member keeps its own constraints
    (taken from the generated schema, so they are written once).
    """

    def extra(schema: dict[str, Any]) -> None:
        members = schema["properties"]

        def member(name: str, how: Any) -> Any:
            if how == PRESENT:
                return next(s for s in members[name]["anyOf"] if s != {"type": "null"})
            return {"type": "null"} if how == NULL else how

        schema["anyOf"] = [
            {
                "properties": {name: member(name, how) for name, how in branch.items()},
                "required": [name for name, how in branch.items() if how == PRESENT],
            }
            for branch in branches
        ]

    return extra


class Body(BaseModel):
    """Base of every request body: strict JSON types, no unknown members."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


StoreAddress: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=VISIBLE_PATTERN)
]
City: TypeAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=VISIBLE_PATTERN)
]
Latitude: TypeAlias = Annotated[float, Field(ge=-90, le=90)]
Longitude: TypeAlias = Annotated[float, Field(ge=-180, le=180)]
StockCount: TypeAlias = Annotated[
    Annotated[int, Field(ge=0, le=1_000_000)], BeforeValidator(_whole)
]


class CreateStore(Body):
    """A store that can redeem cards and hand out pickups; where customers find it is
    optional (address, city, opening hours, coordinates)."""

    store_id: StoreId
    name: Name
    region: Region
    address: StoreAddress | None = None
    city: City | None = None
    opening_hours: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class UpdateStore(Body):
    """A store's fields to change: the members sent are set (null clears an optional
    one), the others kept."""

    name: Name | None = None
    region: Region | None = None
    address: StoreAddress | None = None
    city: City | None = None
    opening_hours: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class SetStock(Body):
    """What a store has on hand of a product, and the low-water mark at or below which
    the dashboard warns; a member left out is kept."""

    on_hand: StockCount | None = None
    low_water: StockCount | None = None


class TokenName(Body):
    """A staff member's display name for a token (null: none); shown in the console only,
    never logged."""

    name: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=VISIBLE_PATTERN)]
        | None
    )


class AdjustStock(Body):
    """Units to add to what is on hand (negative: take away)."""

    delta: Annotated[Annotated[int, Field(ge=-1_000_000, le=1_000_000)], BeforeValidator(_whole)]


class CardSpec(Body):
    """One card to issue: a catalogue ``sku`` (its kind, face value, currency and units
    come from the product; ``product`` may rename it), or a free-text ``product`` (a
    pickup card, with an optional face value)."""

    model_config = ConfigDict(
        json_schema_extra=any_of(
            {"product": PRESENT, "sku": NULL, "face_value": PRESENT, "currency": PRESENT},
            {"product": PRESENT, "sku": NULL, "face_value": NULL, "currency": NULL},
            {"sku": PRESENT, "face_value": NULL, "currency": NULL},
        )
    )

    product: Name | None = None
    sku: StoreId | None = None
    face_value: FaceValue | None = None
    currency: Currency | None = None
    allowed_stores: Annotated[list[StoreId], Field(max_length=1000)] = []
    allowed_regions: Annotated[list[Region], Field(max_length=1000)] = []
    expires_at: Timestamp | None = None
    holder_ref: Ref | None = None

    @model_validator(mode="after")
    def _value_has_currency(self) -> CardSpec:
        if (self.face_value is None) != (self.currency is None):
            raise ValueError("face_value and currency come together, or neither")
        if self.sku is None and self.product is None:
            raise ValueError("a card names a sku or a product")
        if self.sku is not None and self.face_value is not None:
            raise ValueError("a card with a sku takes its face value from the product")
        return self


class IssueCards(Body):
    """A batch of 1 to 10,000 cards, issued in one transaction.

    Cards are issued inactive (in stock: unusable until activated at sale) unless
    ``active`` is true (sold at once, e.g. e-cards sold online).
    """

    batch_ref: Ref
    cards: Annotated[list[CardSpec], Field(min_length=1, max_length=MAX_CARDS_PER_BATCH)]
    active: bool = False


class Claim(Body):
    """Bind an issued card to its first holder."""

    holder_ref: Ref


class Transfer(Body):
    """Give a card to another holder; the old redemption code stops working."""

    redemption_code: RedemptionCode
    to_holder_ref: Ref


class Redeem(Body):
    """Use the card at a store: a store token's own; headquarters may name one.

    ``amount``: what a stored-value card pays (minor units) or the uses a count card
    spends (default 1); a pickup card takes none.
    """

    redemption_code: RedemptionCode
    store_id: StoreId | None = None
    signature: DeviceSignature | None = None
    amount: Amount | None = None


class WithReason(Body):
    """Block, unblock or void a card, saying why.

    The public log keeps ``reason_code`` and a salted hash of ``reason``; the text itself
    stays in the merchant's database.
    """

    reason: Reason
    reason_code: ReasonCode = "unspecified"


class CreateProduct(Body):
    """A catalogue product: what its cards are. Stored-value products need a face value
    (the opening balance) and currency; ``units``: items of a pickup card, uses of a
    count card."""

    model_config = ConfigDict(
        json_schema_extra=any_of(
            {"face_value": PRESENT, "currency": PRESENT},
            {"kind": {"enum": ["pickup", "count"]}, "face_value": NULL, "currency": NULL},
        )
    )

    sku: StoreId
    name_zh: Name
    name_en: Name
    kind: Literal["pickup", "stored_value", "count"]
    face_value: FaceValue | None = None
    currency: Currency | None = None
    units: Annotated[Annotated[int, Field(ge=1, le=1_000_000)], BeforeValidator(_whole)] = 1

    @model_validator(mode="after")
    def _value_has_currency(self) -> CreateProduct:
        if (self.face_value is None) != (self.currency is None):
            raise ValueError("face_value and currency come together, or neither")
        if self.kind == "stored_value" and self.face_value is None:
            raise ValueError("a stored_value product needs face_value and currency")
        return self


class CreateChannel(Body):
    """A sales channel: a distributor, an online shop or a store."""

    channel_id: StoreId
    name: Name
    kind: Literal["distributor", "online", "store"]


class Allocate(Body):
    """Give a channel more cards of a product from the pool, at the channel's price
    (minor units; it replaces the channel's earlier price for the product)."""

    sku: StoreId
    count: Annotated[Annotated[int, Field(ge=1, le=10_000_000)], BeforeValidator(_whole)]
    price: FaceValue


_SALE = ({"channel_id": NULL}, {"price": NULL})


class Activate(Body):
    """Sell one card: through a channel (at its price, from its allocation) or at a
    ``price`` of its own; at a store (a store token: its own)."""

    model_config = ConfigDict(json_schema_extra=any_of(*_SALE))

    channel_id: StoreId | None = None
    price: FaceValue | None = None
    store_id: StoreId | None = None

    @model_validator(mode="after")
    def _one_price(self) -> Activate:
        if self.channel_id is not None and self.price is not None:
            raise ValueError("a channel sale takes the channel's price")
        return self


_SELECTIONS = (
    {"card_numbers": PRESENT, "batch_ref": NULL, "first": NULL, "last": NULL},
    {"batch_ref": PRESENT, "card_numbers": NULL, "first": NULL, "last": NULL},
    {"first": PRESENT, "last": PRESENT, "card_numbers": NULL, "batch_ref": NULL},
)


class ActivateCards(Activate):
    """Sell many cards in one transaction: the listed ``card_numbers``, every card still
    in stock of ``batch_ref``, or of the numbers from ``first`` to ``last``."""

    model_config = ConfigDict(
        json_schema_extra=any_of(*({**a, **b} for a in _SELECTIONS for b in _SALE))
    )

    card_numbers: Annotated[list[CardNumber], Field(min_length=1, max_length=10_000)] | None = None
    batch_ref: Ref | None = None
    first: CardNumber | None = None
    last: CardNumber | None = None

    @model_validator(mode="after")
    def _one_selection(self) -> ActivateCards:
        ways = [
            self.card_numbers is not None,
            self.batch_ref is not None,
            self.first is not None and self.last is not None,
        ]
        partial = (self.first is None) != (self.last is None)
        if sum(ways) != 1 or partial or (ways[2] and any(ways[:2])):
            raise ValueError("name the cards by card_numbers, by batch_ref, or first and last")
        return self


class Load(Body):
    """Top up a stored-value card (minor units); at a store (a store token: its own)."""

    amount: Amount
    store_id: StoreId | None = None


class Refund(Body):
    """Put back part or all of an earlier redemption (its leaf index)."""

    refund_of: LeafIndexValue
    amount: Amount
    store_id: StoreId | None = None


class Adjust(Body):
    """Headquarters corrects a balance by a signed amount, saying why (the log keeps the
    code and a salted hash of the text)."""

    amount: SignedAmount
    reason: Reason
    reason_code: ReasonCode = "unspecified"


class TransferBalance(Body):
    """Move balance from this card (its code proves the holder) to another card."""

    redemption_code: RedemptionCode
    to_card_number: CardNumber
    amount: Amount


class StorePickup(Body):
    """Collect the goods at a store (on ``day``, if one is chosen)."""

    mode: Literal["store"]
    store_id: StoreId
    redemption_code: RedemptionCode
    day: PickupDay | None = None


class DeliveryPickup(Body):
    """Have the goods shipped to an address kept outside the ledger."""

    mode: Literal["delivery"]
    redemption_code: RedemptionCode
    address_ref: Ref


PickupRequest = Annotated[StorePickup | DeliveryPickup, Field(discriminator="mode")]


class Empty(Body):
    """No members: the command is fully named by its URL."""


class DeviceSignature(Body):
    """A store device's EIP-712 signature over the command (see ledger_service.devices)."""

    signer: Address
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
    client_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")]
    signed_at: Annotated[str, StringConstraints(pattern=SIGNED_AT_PATTERN)]
    signed_amount: FaceValue | None = None
    """The amount the device signed (EIP-712 domain version 3): the command's ``amount``,
    0 for a command that names none (a pickup card's redemption, a pickup step). Absent
    from a block of an earlier version, which the service refuses as SIGNATURE_INVALID
    (item by item, in a sync batch)."""


class PickupStep(Empty):
    """A store's pickup step; the body may be empty, or carry a device signature."""

    signature: DeviceSignature | None = None


class PickupCompletion(PickupStep):
    """The handover: a store pickup needs the customer's ``credential`` and its ``code``
    (the pickup page's rotating code, or the card's code; wrong ones count toward the
    card's lockout); ``serials``: the bottle serials (瓶码) scanned, at most 50. A
    delivery is completed with neither."""

    credential: Credential | None = None
    code: Annotated[CounterCode | None, Field(repr=False)] = None
    serials: Serials = []


class PickupShipment(Body):
    """A reviewed delivery leaves with a carrier; the log keeps the tracking number's
    salted hash only."""

    carrier: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=VISIBLE_PATTERN)]
    tracking_number: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    ]


class PickupMove(Body):
    """Move a store pickup that is not ready yet to another store and/or day."""

    store_id: StoreId
    day: PickupDay | None = None


class Reply(BaseModel):
    """Base of documented responses: the members listed are always there; more may follow."""

    model_config = ConfigDict(extra="allow")


class Store(Reply):
    """A store."""

    store_id: str
    name: str
    region: str
    address: str | None = None
    city: str | None = None
    opening_hours: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class StockLine(Reply):
    """A store's stock of one product: available = on_hand - reserved (by pickups)."""

    store_id: str
    sku: str
    on_hand: int
    reserved: int
    available: int
    low_water: int


class Token(Reply):
    """An API token as headquarters sees it: never its secret."""

    token_id: str
    role: str
    store_id: str | None
    name: str | None
    created_at: str
    revoked_at: str | None


class TokenList(Reply):
    """Every API token, oldest first."""

    tokens: list[Token]


class StockList(Reply):
    """Stock lines by store and SKU."""

    stock: list[StockLine]


class StoreList(Reply):
    """All stores."""

    stores: list[Store]


class IssuedCard(Reply):
    """A new card: the redemption code is shown only in this response."""

    card_number: str
    redemption_code: str
    leaf_index: int


class IssuedBatch(Reply):
    """The cards of a batch, in the order requested."""

    batch_ref: str
    cards: list[IssuedCard]


class CardEvent(Reply):
    """One event of a card, as recorded in the log."""

    leaf_index: int
    seq: int
    type: str


class CardView(Reply):
    """The merchant's view of a card with its events."""

    card_number: str
    state: str
    events: list[CardEvent]


class CardState(Reply):
    """A card after an accepted command, and the log leaf that records it."""

    card_number: str
    state: str
    leaf_index: int


class ValueState(CardState):
    """A value card after a command: the amount moved and the balance after it."""

    amount: int | None = None
    balance: int | None = None


class BalanceTransferred(Reply):
    """Both cards of a balance transfer, each with its event."""

    sender: ValueState
    receiver: ValueState


class Activated(Reply):
    """The cards sold, each with its ACTIVATED event."""

    activated: int
    cards: list[CardState]


class Product(Reply):
    """A catalogue product."""

    sku: str
    name_zh: str
    name_en: str
    kind: str
    face_value: int | None
    currency: str | None
    units: int


class ProductList(Reply):
    """The catalogue, by SKU."""

    products: list[Product]


class Allocation(Reply):
    """What a channel holds of a product: allocated, sold, left, and its price."""

    sku: str
    allocated: int
    sold: int
    left: int
    price: int


class Channel(Reply):
    """A sales channel and its allocations."""

    channel_id: str
    name: str
    kind: str
    allocations: list[Allocation]


class ChannelList(Reply):
    """The channels, by id."""

    channels: list[Channel]


class Transferred(CardState):
    """A transferred card and its new redemption code (shown only here)."""

    redemption_code: str


class Pickup(Reply):
    """A pickup after an accepted command, and the log leaf that records it."""

    pickup_id: str | int
    state: str
    leaf_index: int


class ValidationErrorItem(Reply):
    """One reason a request was refused: where (``loc`` or ``index``) and why."""


class Problem(Reply):
    """An error (RFC 9457 ``application/problem+json``) with a stable ``code``."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[ValidationErrorItem] | None = None
    retry_after: int | None = None


class RegisterKey(Body):
    """A device key (an Ethereum address) that may sign the store's commands."""

    address: Address
    label: Name | None = None


class DeviceKey(Reply):
    """A store's device key; a revoked key stays listed with ``revoked_at``."""

    address: str
    store_id: str
    label: str | None
    registered_at: str
    revoked_at: str | None
    active: bool


class DeviceKeyList(Reply):
    """A store's device keys, oldest first."""

    keys: list[DeviceKey]


class SyncItem(Body):
    """One signed command a store client queued: a redemption or a pickup step. A
    redemption of a stored-value or count card carries its ``amount``, as signed. A
    completion carries the customer's ``credential`` and ``code`` (a rotating code is
    checked at the signing time) and the bottle ``serials``."""

    model_config = ConfigDict(
        json_schema_extra=any_of(
            {
                "action": {"const": "redeem"},
                "card_number": PRESENT,
                "redemption_code": PRESENT,
                "pickup_id": NULL,
                "credential": NULL,
                "code": NULL,
                "serials": NULL,
            },
            {
                "action": {"const": "pickup_ready"},
                "pickup_id": PRESENT,
                "card_number": NULL,
                "redemption_code": NULL,
                "amount": NULL,
                "credential": NULL,
                "code": NULL,
                "serials": NULL,
            },
            {
                "action": {"const": "pickup_complete"},
                "pickup_id": PRESENT,
                "card_number": NULL,
                "redemption_code": NULL,
                "amount": NULL,
            },
        )
    )

    action: Literal["redeem", "pickup_ready", "pickup_complete"]
    card_number: CardNumber | None = None
    redemption_code: Annotated[RedemptionCode | None, Field(repr=False)] = None
    amount: Amount | None = None
    pickup_id: PickupId | None = None
    credential: Credential | None = None
    code: Annotated[CounterCode | None, Field(repr=False)] = None
    serials: Serials | None = None
    signature: DeviceSignature

    @model_validator(mode="after")
    def _members_fit_action(self) -> SyncItem:
        completion = (self.credential, self.code, self.serials)
        if self.action == "redeem":
            if self.card_number is None or self.redemption_code is None or self.pickup_id:
                raise ValueError("redeem takes card_number and redemption_code, no pickup_id")
            if completion != (None, None, None):
                raise ValueError("redeem takes no credential, code or serials")
        elif self.pickup_id is None or self.card_number or self.redemption_code or self.amount:
            raise ValueError(
                f"{self.action} takes pickup_id, no card_number, redemption_code or amount"
            )
        elif self.action == "pickup_ready" and completion != (None, None, None):
            raise ValueError("pickup_ready takes no credential, code or serials")
        return self


class SyncBatch(Body):
    """Queued commands in the order the store made them (1 to 500)."""

    items: Annotated[list[SyncItem], Field(min_length=1, max_length=500)]


class SyncResult(Reply):
    """What became of one item: ``accepted`` (state, leaf_index) or ``refused`` (code,
    detail). ``replayed``: the service had already decided this client id."""

    client_id: str | None
    status: Literal["accepted", "refused"]
    replayed: bool


class SyncResults(Reply):
    """One result per item, in the order sent."""

    results: list[SyncResult]


M = TypeVar("M")


def parse(model: type[M] | Any, raw: bytes) -> M:
    """Parse and check a JSON body against ``model`` (a Body class or annotated type).

    Raises :class:`ValidationFailed` with ``errors`` listing every problem found.
    """
    adapter = _adapter(model)
    try:
        parsed: M = adapter.validate_json((raw or b"{}") if _may_be_empty(model) else raw)
        return parsed
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise ValidationFailed(
                "the request body is not valid JSON",
                errors=[{"loc": "body", "message": "not valid JSON (UTF-8, RFC 8259)"}],
            ) from None
        raise ValidationFailed(
            "the request body does not match the schema",
            errors=[{"loc": _loc(e["loc"]), "message": e["msg"]} for e in errors],
        ) from None


def _may_be_empty(model: Any) -> bool:
    return isinstance(model, type) and issubclass(model, Empty)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


_UNION_TAGS = {"store", "delivery"}


def _loc(parts: tuple[int | str, ...]) -> str:
    # Pydantic names the union member a discriminated error happened in; clients only
    # care about the path into their own document.
    out = "body"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_TAGS and out == "body":
            continue
        else:
            out += f".{part}"
    return out


def json_schema(model: Any, ref_template: str) -> dict[str, Any]:
    """The JSON Schema (2020-12, as OpenAPI 3.1 uses) of ``model`` with named references."""
    return _adapter(model).json_schema(ref_template=ref_template)


# --- pickups for store devices and the customer's own API -------------------------------


class ReadyPickup(Reply):
    """A pickup waiting at the store's counter, with the secret of its rotating code
    (base32, RFC 6238, 30 s, 6 digits) so that an offline device can check it."""

    pickup_id: str
    card_number: str
    code_secret: str


class ReadyPickupList(Reply):
    """The calling store's pickups that are ready to hand over."""

    pickups: list[ReadyPickup]


class CustomerClaim(Body):
    """Claim the card with its code; ``holder_ref``: how the holder is known to the
    merchant (e.g. a phone number), kept outside the log."""

    redemption_code: RedemptionCode
    holder_ref: Ref


class CardCode(Body):
    """The card's code, which authorises the customer's command."""

    redemption_code: RedemptionCode


class CustomerStorePickup(Body):
    """Collect the goods at a store on a day."""

    mode: Literal["store"]
    store_id: StoreId
    day: PickupDay | None = None
    redemption_code: RedemptionCode


class CustomerDeliveryPickup(Body):
    """Have the goods delivered; the address is kept sealed, the log keeps its hash."""

    mode: Literal["delivery"]
    address: Annotated[
        str, StringConstraints(min_length=1, max_length=TEXT_LIMIT, pattern=VISIBLE_PATTERN)
    ]
    redemption_code: RedemptionCode


CustomerPickupRequest = Annotated[
    CustomerStorePickup | CustomerDeliveryPickup, Field(discriminator="mode")
]


class CustomerPickupMove(PickupMove):
    """Move the pickup, with the card's code."""

    redemption_code: RedemptionCode


class GiftAccept(Body):
    """Accept a gift: the link's token and the recipient's own holder reference."""

    token: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    ]
    holder_ref: Ref


class CodeCheck(Reply):
    """The code is the card's (a wrong one is refused with INVALID_CODE)."""

    card_number: str
    valid: bool
    state: str


class OpenPickup(Reply):
    """The card's pickup under way, with the key to its page."""

    pickup_id: str
    state: str
    access_key: str
    page_url: str


class CurrentPickup(CodeCheck):
    """The code was right; the card's pickup under way, or null."""

    pickup: OpenPickup | None


class CustomerPickup(Pickup):
    """A requested pickup: ``access_key`` opens its page (``page_url``) with the rotating
    code; keep it like the card's code."""

    access_key: str
    page_url: str


class PickupProgress(Reply):
    """A pickup's progress; while it waits at the store, the rotating code of this moment
    and the seconds until it changes."""

    pickup_id: str
    mode: str
    state: str
    store_id: str | None
    day: str | None


class GiftOffered(Reply):
    """An open gift: send ``share_url`` to the recipient (the token is shown only here)."""

    offer_id: str
    token: str
    share_url: str
    expires_at: str
    state: str
    leaf_index: int


class GiftView(Reply):
    """A gift offer as its link shows it."""

    offer_id: str
    state: Literal["open", "accepted", "returned", "withdrawn"]
    expires_at: str


class GiftWithdrawn(CardState):
    """The card back with its giver: ``offer_state`` ``withdrawn``, or ``returned`` when
    the offer had already ended (its lapse was logged instead)."""

    offer_id: str
    offer_state: Literal["withdrawn", "returned"]


class GiftAccepted(Transferred):
    """The accepted card, now the recipient's, and its new code (shown only here)."""
