"""The API's request and response bodies, declared once for validation and documentation.

Requests are checked strictly: unknown members, wrong JSON types (``true`` or ``1.0`` for
an integer, a number for a string), out-of-range values and control characters are all
refused with ``VALIDATION_FAILED`` and a list of ``errors`` (``loc``, ``message``; never
the submitted value, which may be a redemption code). The OpenAPI document is generated
from the same models, so the document and the checks cannot drift apart.

    >>> from ledger_service.schemas import CreateStore, parse
    >>> parse(CreateStore, b'{"store_id": "S1", "name": "Flagship", "region": "north"}').store_id
    'S1'
    >>> parse(CreateStore, b'{"store_id": "S1", "name": "x", "region": "n", "x": 1}')
    Traceback (most recent call last):
    ...
    ledger_service.errors.ValidationFailed: the request body does not match the schema
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ledger_service.errors import ValidationFailed

MAX_CARDS_PER_BATCH = 10_000
MAX_FACE_VALUE = 10**12
"""Face values are integers in the currency's minor unit (100000 = 1,000.00 CNY)."""

# No control characters anywhere: they have no business in these fields, and PostgreSQL
# cannot store NUL at all.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
STORE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _text(max_length: int, pattern: str = _PRINTABLE) -> Any:
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length, pattern=pattern)]


def _rfc3339(value: str) -> str:
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a time zone (Z or ±hh:mm)")
    return value


StoreId = _text(64, STORE_ID_PATTERN)
Name = _text(200)
Region = _text(64)
Ref = _text(128)
Reason = _text(500)
RedemptionCode = _text(32, r"^[A-Za-z0-9 -]+$")
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Timestamp = Annotated[
    str,
    StringConstraints(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$"
    ),
    AfterValidator(_rfc3339),
    Field(json_schema_extra={"format": "date-time"}),
]


class Body(BaseModel):
    """Base of every request body: strict JSON types, no unknown members."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateStore(Body):
    """A store that can redeem cards and hand out pickups."""

    store_id: StoreId
    name: Name
    region: Region


class CardSpec(Body):
    """One card to issue; everything but ``product`` is optional."""

    product: Name
    face_value: Annotated[int, Field(ge=0, le=MAX_FACE_VALUE)] | None = None
    currency: Currency | None = None
    allowed_stores: Annotated[list[StoreId], Field(max_length=1000)] = []
    allowed_regions: Annotated[list[Region], Field(max_length=1000)] = []
    expires_at: Timestamp | None = None
    holder_ref: Ref | None = None

    @model_validator(mode="after")
    def _value_has_currency(self) -> CardSpec:
        if (self.face_value is None) != (self.currency is None):
            raise ValueError("face_value and currency come together, or neither")
        return self


class IssueCards(Body):
    """A batch of 1 to 10,000 cards, issued in one transaction."""

    batch_ref: Ref
    cards: Annotated[list[CardSpec], Field(min_length=1, max_length=MAX_CARDS_PER_BATCH)]


class Claim(Body):
    """Bind an issued card to its first holder."""

    holder_ref: Ref


class Transfer(Body):
    """Give a card to another holder; the old redemption code stops working."""

    redemption_code: RedemptionCode
    to_holder_ref: Ref


class Redeem(Body):
    """Use the card at a store: a store token's own; headquarters may name one."""

    redemption_code: RedemptionCode
    store_id: StoreId | None = None
    signature: DeviceSignature | None = None


class WithReason(Body):
    """Block, unblock or void a card, saying why."""

    reason: Reason


class StorePickup(Body):
    """Collect the goods at a store."""

    mode: Literal["store"]
    store_id: StoreId
    redemption_code: RedemptionCode


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

    signer: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
    client_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")]
    signed_at: Annotated[
        str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    ]


class PickupStep(Empty):
    """A store's pickup step; the body may be empty, or carry a device signature."""

    signature: DeviceSignature | None = None


class Reply(BaseModel):
    """Base of documented responses: the members listed are always there; more may follow."""

    model_config = ConfigDict(extra="allow")


class Store(Reply):
    """A store."""

    store_id: str
    name: str
    region: str


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

    address: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
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
    """One signed command a store client queued: a redemption or a pickup step."""

    action: Literal["redeem", "pickup_ready", "pickup_complete"]
    card_number: _text(64) | None = None
    redemption_code: Annotated[RedemptionCode | None, Field(repr=False)] = None
    pickup_id: _text(32) | None = None
    signature: DeviceSignature

    @model_validator(mode="after")
    def _members_fit_action(self) -> SyncItem:
        if self.action == "redeem":
            if self.card_number is None or self.redemption_code is None or self.pickup_id:
                raise ValueError("redeem takes card_number and redemption_code, no pickup_id")
        elif self.pickup_id is None or self.card_number or self.redemption_code:
            raise ValueError(f"{self.action} takes pickup_id only")
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
        return adapter.validate_json((raw or b"{}") if _may_be_empty(model) else raw)  # type: ignore[no-any-return]
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
