"""The errors of the card ledger, each with a stable code and an HTTP status.

The service raises them; only the HTTP edge turns them into ``application/problem+json``
(``{"type", "title", "status", "code", "detail"}``). Codes are part of the public API:
outside clients switch on them, so they never change once published. Titles are English
message ids marked with :func:`N_`; the HTTP edge (:mod:`ledger_service.problems`) says
them in the client's language, so the service itself never depends on a request.

    >>> from ledger_service.errors import CardAlreadyUsed
    >>> err = CardAlreadyUsed("card was redeemed at S1")
    >>> err.code, err.status
    ('CARD_ALREADY_USED', 409)
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues (``pybabel extract``); it is translated later."""
    return message


class LedgerError(Exception):
    """Base of every refusal the ledger service gives; carries code, status and detail."""

    code: ClassVar[str] = "LEDGER_ERROR"
    status: ClassVar[int] = 400
    title: ClassVar[str] = N_("Request refused")

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        # Extra members of the problem document, e.g. ``retry_after`` or ``errors``.
        self.extra = extra


class CardNotFound(LedgerError):
    """Card not found."""

    code = "CARD_NOT_FOUND"
    status = 404
    title = N_("Card not found")


class CardAlreadyUsed(LedgerError):
    """Card already used."""

    code = "CARD_ALREADY_USED"
    status = 409
    title = N_("Card already used")


class CardVoided(LedgerError):
    """Card voided."""

    code = "CARD_VOIDED"
    status = 409
    title = N_("Card voided")


class CardExpired(LedgerError):
    """Card expired."""

    code = "CARD_EXPIRED"
    status = 409
    title = N_("Card expired")


class CardBlocked(LedgerError):
    """Card blocked."""

    code = "CARD_BLOCKED"
    status = 409
    title = N_("Card blocked")


class CardNotActive(LedgerError):
    """The card is still in stock or at a distributor: it has not been sold (activated)."""

    code = "CARD_NOT_ACTIVE"
    status = 409
    title = N_("Card not sold yet")


class InsufficientBalance(LedgerError):
    """The card's balance (money or uses) is lower than the amount asked for."""

    code = "INSUFFICIENT_BALANCE"
    status = 409
    title = N_("Balance too low")


class WrongCardKind(LedgerError):
    """The command does not apply to this kind of card (e.g. a top-up of a pickup card)."""

    code = "WRONG_CARD_KIND"
    status = 409
    title = N_("Not possible with this kind of card")


class RefundTooLarge(LedgerError):
    """A refund asks for more than its redemption took (less what was refunded already)."""

    code = "REFUND_TOO_LARGE"
    status = 409
    title = N_("Refund larger than the redemption")


class ProductNotFound(LedgerError):
    """No product with this SKU in the catalogue."""

    code = "PRODUCT_NOT_FOUND"
    status = 404
    title = N_("Product not found")


class ProductExists(LedgerError):
    """A product with this SKU is in the catalogue already."""

    code = "PRODUCT_EXISTS"
    status = 409
    title = N_("Product exists")


class ChannelNotFound(LedgerError):
    """No sales channel with this id."""

    code = "CHANNEL_NOT_FOUND"
    status = 404
    title = N_("Channel not found")


class ChannelExists(LedgerError):
    """A sales channel with this id exists already."""

    code = "CHANNEL_EXISTS"
    status = 409
    title = N_("Channel exists")


class AllocationExhausted(LedgerError):
    """The channel has no cards of this product left to sell from its allocation."""

    code = "ALLOCATION_EXHAUSTED"
    status = 409
    title = N_("Channel allocation used up")


class OutOfStock(LedgerError):
    """The store has none of the product left that is not already reserved."""

    code = "OUT_OF_STOCK"
    status = 409
    title = N_("Out of stock at this store")


class GiftOfferExpired(LedgerError):
    """The gift offer was not accepted in time; the card went back to its giver."""

    code = "GIFT_OFFER_EXPIRED"
    status = 409
    title = N_("Gift offer expired")


class GiftOfferWithdrawn(LedgerError):
    """The giver withdrew the gift offer before anyone accepted it; its link is dead."""

    code = "GIFT_OFFER_WITHDRAWN"
    status = 409
    title = N_("Gift offer withdrawn")


class GiftNotFound(LedgerError):
    """No gift offer has this id and link token (a wrong token looks like none)."""

    code = "GIFT_NOT_FOUND"
    status = 404
    title = N_("Gift offer not found")


class InvalidTransition(LedgerError):
    """Not allowed in the card's state."""

    code = "INVALID_TRANSITION"
    status = 409
    title = N_("Not allowed in the card's state")


class StoreNotAllowed(LedgerError):
    """Card not valid at this store."""

    code = "STORE_NOT_ALLOWED"
    status = 403
    title = N_("Card not valid at this store")


class StoreNotFound(LedgerError):
    """Store not found."""

    code = "STORE_NOT_FOUND"
    status = 404
    title = N_("Store not found")


class StoreExists(LedgerError):
    """Store already exists."""

    code = "STORE_EXISTS"
    status = 409
    title = N_("Store already exists")


class TokenNotFound(LedgerError):
    """No live API token has this id."""

    code = "TOKEN_NOT_FOUND"
    status = 404
    title = N_("Token not found")


class PickupNotFound(LedgerError):
    """Pickup not found."""

    code = "PICKUP_NOT_FOUND"
    status = 404
    title = N_("Pickup not found")


class InvalidCode(LedgerError):
    """Wrong redemption code."""

    code = "INVALID_CODE"
    status = 403
    title = N_("Wrong redemption code")


class CodeLocked(LedgerError):
    """Redemption code locked."""

    code = "CODE_LOCKED"
    status = 423
    title = N_("Redemption code locked")


class Unauthorized(LedgerError):
    """Authentication required."""

    code = "UNAUTHORIZED"
    status = 401
    title = N_("Authentication required")


class Forbidden(LedgerError):
    """Not allowed for this role."""

    code = "FORBIDDEN"
    status = 403
    title = N_("Not allowed for this role")


class ValidationFailed(LedgerError):
    """Invalid request."""

    code = "VALIDATION_FAILED"
    status = 422
    title = N_("Invalid request")


class InvalidCardNumber(ValidationFailed):
    """Malformed card number (wrong length, bad character or check character)."""

    code = "INVALID_CARD_NUMBER"
    status = 422
    title = N_("Malformed card number")


class IdempotencyMismatch(LedgerError):
    """Idempotency key reused with another request."""

    code = "IDEMPOTENCY_MISMATCH"
    status = 422
    title = N_("Idempotency key reused with another request")


class PayloadTooLarge(LedgerError):
    """Request too large."""

    code = "PAYLOAD_TOO_LARGE"
    status = 413
    title = N_("Request too large")


class RateLimited(LedgerError):
    """Too many requests."""

    code = "RATE_LIMITED"
    status = 429
    title = N_("Too many requests")


class NotAnchored(LedgerError):
    """No anchored checkpoint yet."""

    code = "NOT_ANCHORED"
    status = 404
    title = N_("No anchored checkpoint yet")


class IdempotencyInProgress(LedgerError):
    """The first request with this idempotency key is still running."""

    code = "IDEMPOTENCY_IN_PROGRESS"
    status = 409
    title = N_("A request with this idempotency key is in progress")


class SignatureRequired(LedgerError):
    """This deployment requires store actions to be signed by a registered device key."""

    code = "SIGNATURE_REQUIRED"
    status = 403
    title = N_("Device signature required")


class SignatureInvalid(LedgerError):
    """The device signature is malformed or was not made by the key it names."""

    code = "SIGNATURE_INVALID"
    status = 403
    title = N_("Invalid device signature")


class SignatureReplayed(LedgerError):
    """The device already used this client id for another command."""

    code = "SIGNATURE_REPLAYED"
    status = 409
    title = N_("Device signature replayed")


class SignatureExpired(LedgerError):
    """The signed time lies outside the window the service accepts."""

    code = "SIGNATURE_EXPIRED"
    status = 403
    title = N_("Device signature outside its time window")


class DeviceKeyUnknown(LedgerError):
    """The signing key is not registered for any store."""

    code = "DEVICE_KEY_UNKNOWN"
    status = 403
    title = N_("Unknown device key")


class DeviceKeyWrongStore(DeviceKeyUnknown):
    """The signing key belongs to another store than the one acting."""

    code = "DEVICE_KEY_WRONG_STORE"
    status = 403
    title = N_("Device key of another store")


class DeviceKeyRevoked(LedgerError):
    """The signing key was revoked."""

    code = "DEVICE_KEY_REVOKED"
    status = 403
    title = N_("Device key revoked")


class DeviceKeyExists(LedgerError):
    """The address is already registered (keys are never reused, even after revocation)."""

    code = "DEVICE_KEY_EXISTS"
    status = 409
    title = N_("Device key already registered")


class DeviceKeyNotFound(LedgerError):
    """No such key is registered for this store."""

    code = "DEVICE_KEY_NOT_FOUND"
    status = 404
    title = N_("Device key not found")


class LogInconsistent(LedgerError):
    """The stored log failed its own consistency check, so no proof can be served.

    The server's fault, not the client's: a damaged database (a missing leaf or node, a
    head or checkpoint size the stored leaves do not reach). Auditors run ``cardtrail audit``.
    """

    code = "LOG_INCONSISTENT"
    status = 500
    title = N_("Stored log inconsistent")
