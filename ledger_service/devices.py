"""Store device keys: EIP-712 signatures over store commands, and the registry of keys.

A store registers one or more device keys (Ethereum addresses). A device signs each store
command — redeem, pickup ready, pickup complete — as EIP-712 typed data naming the card,
the action, the store, the pickup (if any), the amount, the time and a client-made id. The
service recovers the signer, checks that it is a live key of the acting store and that the
client id is fresh, and writes ``{"signer", "signature", "client_id", "signed_at",
"signed_amount", "deployment"}`` into the event's ``data``: the log itself then proves which
device of which store acted, and for how much, and anyone holding the card number can
recover the signer from the event again.

The amount is the event's ``amount`` as the device approved it: minor units of the card's
currency for a stored-value card, uses for a count card, 0 for a command that moves no
value (a pickup card used whole, a pickup step, which names its pickup instead). No event
is logged whose ``signed_amount`` differs from its ``amount`` (:func:`signed_draft`), so a
server cannot log more, or less, than the counter approved under the device's signature.
The currency is not signed: it is the card's, fixed by its logged ``ISSUED`` event.

A signature is bound to one deployment: the EIP-712 domain names the chain id and the
LedgerAnchor contract the log is anchored to (:class:`SigningDomain`), so a command signed
for one CardTrail deployment — another merchant's, a staging copy, a replaced contract —
recovers to a different key anywhere else. Before the first contract is deployed there is
no domain, and signed commands are refused (:func:`current_domain`).

The first half of this module is pure (typed data, signing, recovery, the time window);
the second half reads the deployment and the ``store_keys`` and ``device_commands`` tables.

    >>> from eth_account import Account
    >>> key = Account.from_key(bytes(range(1, 33)))
    >>> here = SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    >>> cmd = StoreCommand("23456789ABCDEFGH8", "redeem", "S1", "", "2026-11-24T06:17:10.123Z",
    ...                    "c-0001-abcdef", amount=500)
    >>> signed = sign(cmd, key.key, here)
    >>> signed.signed_amount
    500
    >>> recover_signer(cmd, signed.signature, here) == key.address
    True
    >>> recover_signer(cmd, signed.signature, SigningDomain(1, here.contract)) == key.address
    False
    >>> recover_signer(replace(cmd, amount=800), signed.signature, here) == key.address
    False
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_utils.address import is_address, to_checksum_address
from eth_utils.exceptions import ValidationError as KeysValidationError
from sqlalchemy.engine import Connection, Engine, Row

from anchoring.checkpoints import all_deployments, current_deployment
from anchoring.db import read_transaction, write_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.lifecycle import EventDraft
from ledger_service.events import format_timestamp, utc_now
from ledger_service.schema import cards, device_commands, store_keys, stores

DOMAIN_NAME = "CardTrail"
DOMAIN_VERSION = "3"
"""Version 3 signs the amount (``StoreCommand.amount``). The service accepts no other:

- version 1 domains held only the name and version, so a signature was valid on every
  CardTrail deployment (events signed under it carry no ``deployment`` member);
- version 2 named the deployment but no amount, so a REDEEMED event's amount was the
  server's word alone (events signed under it carry ``deployment`` but no
  ``signed_amount``).

Refusing new version 2 signatures, even for commands that move no value, keeps one rule
for every signed event logged from now on: it names the amount its device approved. Had
version 2 stayed accepted for pickups, a server could pass off a version 2 signature as
one that needs no amount. Events already logged under versions 1 and 2 keep verifying in
the browser, which says that their device signed no amount."""

TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "StoreCommand": [
        {"name": "card", "type": "string"},
        {"name": "action", "type": "string"},
        {"name": "store", "type": "string"},
        {"name": "pickup", "type": "string"},
        {"name": "amount", "type": "uint256"},
        {"name": "time", "type": "string"},
        {"name": "clientId", "type": "string"},
    ],
}
PRIMARY_TYPE = "StoreCommand"
ACTIONS = ("redeem", "pickup_ready", "pickup_complete")
"""Store commands a device may sign; the event types they log are in :data:`EVENT_ACTIONS`."""
EVENT_ACTIONS = {
    "REDEEMED": "redeem",
    "PICKUP_READY": "pickup_ready",
    "PICKUP_COMPLETED": "pickup_complete",
}

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a device clock may run."""
MAX_OFFLINE = timedelta(days=7)
"""How long a store client may hold a signed command before the service takes it."""

MAX_CHAIN_ID = 2**53 - 1
"""The largest chain id a domain takes: events hold only integers JSON-safe everywhere."""
MAX_AMOUNT = 2**53 - 1
"""The largest amount a device signs: events hold only integers JSON-safe everywhere."""
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{8,64}")
SIGNATURE_MEMBERS = ("signer", "signature", "client_id", "signed_at", "signed_amount")
SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# secp256k1's group order: a signature with s above half of it is the malleable twin.
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# --- pure -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningDomain:
    """The deployment a device signs for: the chain id and the LedgerAnchor contract that
    the log is anchored to (``GET /api/v1/chain`` reports both).

    Built only valid: a chain id from 1 to 2^53 − 1 (events keep integers JSON-safe) and
    a 0x address, kept checksummed; ValueError otherwise.
    """

    chain_id: int
    contract: str

    def __post_init__(self) -> None:
        chain_id, contract = self.chain_id, self.contract
        integer = isinstance(chain_id, int) and not isinstance(chain_id, bool)
        if not integer or not 0 < chain_id <= MAX_CHAIN_ID:
            raise ValueError(f"chain_id must be an integer from 1 to 2^53 - 1, got {chain_id!r}")
        if not isinstance(contract, str) or not contract.startswith("0x"):
            raise ValueError(f"contract must be a 0x address, got {contract!r}")
        if not is_address(contract):
            raise ValueError(f"contract must be a 0x address, got {contract!r}")
        # Frozen: the checksummed form replaces whatever case the address came in.
        object.__setattr__(self, "contract", str(to_checksum_address(contract)))

    @classmethod
    def from_json(cls, raw: object) -> SigningDomain:
        """``{"chain_id", "contract", …}`` (other members ignored) as a domain; ValueError
        when either is missing or malformed."""
        fields = raw if isinstance(raw, Mapping) else {}
        # Unchecked on purpose: the constructor validates both members (ValueError).
        return cls(fields.get("chain_id"), fields.get("contract"))  # type: ignore[arg-type]

    def eip712(self) -> dict[str, Any]:
        """The EIP-712 domain of this deployment."""
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.contract,
        }

    def to_json(self) -> dict[str, Any]:
        """The ``deployment`` member of a signed event's ``data``."""
        return {"chain_id": self.chain_id, "contract": self.contract}

    def describe(self) -> str:
        """Chain and contract, for messages."""
        return f"chain {self.chain_id}, contract {self.contract}"


@dataclass(frozen=True)
class StoreCommand:
    """What a device signs: ``time`` is RFC 3339 UTC with milliseconds, as events have;
    ``amount`` is the event's ``amount`` the device approves (minor units or uses), 0 for
    a command that moves no value."""

    card: str
    action: str
    store: str
    pickup: str
    time: str
    client_id: str
    amount: int = 0

    def typed_data(self, domain: SigningDomain) -> dict[str, Any]:
        """The full EIP-712 document for ``domain``
        (``eth_account.messages.encode_typed_data`` input)."""
        return {
            "types": TYPES,
            "primaryType": PRIMARY_TYPE,
            "domain": domain.eip712(),
            "message": {
                "card": self.card,
                "action": self.action,
                "store": self.store,
                "pickup": self.pickup,
                "amount": self.amount,
                "time": self.time,
                "clientId": self.client_id,
            },
        }


@dataclass(frozen=True)
class DeviceSignature:
    """A device's signature over one command, as requests carry it and events record it.

    ``deployment`` is set once :func:`verify` has checked the signature against a domain:
    the event then records which deployment the device signed for.
    """

    signer: str
    signature: str
    client_id: str
    signed_at: str
    signed_amount: int
    deployment: SigningDomain | None = None

    @property
    def signed_time(self) -> datetime:
        """``signed_at`` as an aware datetime."""
        return datetime.fromisoformat(self.signed_at)

    def to_json(self) -> dict[str, Any]:
        """The signature block a request carries (:data:`SIGNATURE_MEMBERS`)."""
        return {
            "signer": self.signer,
            "signature": self.signature,
            "client_id": self.client_id,
            "signed_at": self.signed_at,
            "signed_amount": self.signed_amount,
        }


def parse_signature(raw: DeviceSignature | Mapping[str, Any]) -> DeviceSignature:
    """Check the shape of a signature block; the signer comes back checksummed.

    Raises :class:`~ledger_service.errors.SignatureInvalid` naming the bad member.
    """
    if isinstance(raw, DeviceSignature):
        raw = raw.to_json()
    if isinstance(raw, Mapping) and raw.get("signed_amount") is None:
        # A version 1 or 2 block (a request schema fills the absent member with None).
        raise errors.SignatureInvalid(
            f"the signature names no signed_amount: EIP-712 domain version {DOMAIN_VERSION} "
            "signs the amount, earlier versions signed none and are refused; sign the "
            "command again with an up-to-date store client"
        )
    if not isinstance(raw, Mapping) or set(raw) != set(SIGNATURE_MEMBERS):
        raise errors.SignatureInvalid(
            "a signature has signer, signature, client_id, signed_at and signed_amount"
        )
    signer, signature = raw["signer"], raw["signature"]
    client_id, signed_at = raw["client_id"], raw["signed_at"]
    signed_amount = raw["signed_amount"]
    if not isinstance(signer, str) or not is_address(signer) or not signer.startswith("0x"):
        raise errors.SignatureInvalid("signer is not a 0x address")
    if not isinstance(signature, str) or not SIGNATURE.fullmatch(signature):
        raise errors.SignatureInvalid("signature is not 65 bytes of 0x hex")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise errors.SignatureInvalid("client_id must be 8 to 64 of A-Z a-z 0-9 _ . : -")
    if not isinstance(signed_at, str) or not TIMESTAMP.fullmatch(signed_at):
        raise errors.SignatureInvalid("signed_at must read like 2026-11-24T06:17:10.123Z")
    try:
        datetime.fromisoformat(signed_at)
    except ValueError:
        raise errors.SignatureInvalid("signed_at is not a real time") from None
    if not is_amount(signed_amount):
        raise errors.SignatureInvalid("signed_amount must be an integer from 0 to 2^53 - 1")
    return DeviceSignature(
        to_checksum_address(signer), signature.lower(), client_id, signed_at, signed_amount
    )


def is_amount(value: object) -> bool:
    """Whether ``value`` is an amount a device may sign: an integer from 0 to
    :data:`MAX_AMOUNT`.

    >>> is_amount(500), is_amount(0), is_amount(-1), is_amount(True), is_amount(5.0)
    (True, True, False, False, False)
    """
    integer = isinstance(value, int) and not isinstance(value, bool)
    return integer and 0 <= value <= MAX_AMOUNT  # type: ignore[operator]


def timestamp(moment: datetime) -> str:
    """A datetime as a device signs it (the event timestamp format)."""
    return format_timestamp(moment)


def sign(command: StoreCommand, private_key: bytes, domain: SigningDomain) -> DeviceSignature:
    """Sign ``command`` for the deployment ``domain`` with a device key (store clients, tests)."""
    message = encode_typed_data(full_message=command.typed_data(domain))
    signed = Account.sign_message(message, private_key)
    return DeviceSignature(
        signer=Account.from_key(private_key).address,
        signature="0x" + bytes(signed.signature).hex(),
        client_id=command.client_id,
        signed_at=command.time,
        signed_amount=command.amount,
    )


def recover_signer(command: StoreCommand, signature: str, domain: SigningDomain) -> str:
    """The checksummed address that signed ``command`` for ``domain``; SignatureInvalid if
    none can. A signature made for another domain recovers to some other address."""
    raw = bytes.fromhex(signature.removeprefix("0x"))
    if len(raw) != 65 or raw[64] not in (27, 28):
        raise errors.SignatureInvalid("signature must be r, s and v (27 or 28)")
    if int.from_bytes(raw[32:64], "big") > _N // 2:
        raise errors.SignatureInvalid("signature has a high s value (not canonical)")
    try:
        signer = Account.recover_message(
            encode_typed_data(full_message=command.typed_data(domain)), signature=raw
        )
    except (BadSignature, KeysValidationError, ValueError):
        raise errors.SignatureInvalid("signature does not recover to any key") from None
    return str(signer)


def verify(
    command: StoreCommand, signature: DeviceSignature, domain: SigningDomain
) -> DeviceSignature:
    """Check that ``signature`` is its signer's over exactly ``command``, made for the
    deployment ``domain``; returns it bound to that domain (its event records it)."""
    if command.client_id != signature.client_id or command.time != signature.signed_at:
        raise errors.SignatureInvalid("signature block does not match the signed command")
    if command.amount != signature.signed_amount:
        raise errors.SignatureInvalid(
            f"the device signed amount {signature.signed_amount}, but the command is for "
            f"{command.amount}"
        )
    if recover_signer(command, signature.signature, domain) != signature.signer:
        raise errors.SignatureInvalid(
            f"signature was not made by {signature.signer} over this command for this "
            f"deployment ({domain.describe()})"
        )
    return replace(signature, deployment=domain)


def check_window(signed_at: datetime, now: datetime) -> None:
    """Refuse a signed time too far in the future or older than :data:`MAX_OFFLINE`."""
    if signed_at > now + MAX_CLOCK_SKEW:
        raise errors.SignatureExpired(
            f"signed_at is more than {int(MAX_CLOCK_SKEW.total_seconds())} s in the future"
        )
    if signed_at < now - MAX_OFFLINE:
        raise errors.SignatureExpired(f"signed more than {MAX_OFFLINE.days} days ago")


def event_amount(draft: EventDraft) -> int:
    """The amount a device signs for ``draft``'s event: its ``amount``, or 0 when it moves
    no value (a pickup card's REDEEMED, a pickup step)."""
    amount = draft.data.get("amount")
    return 0 if amount is None else int(amount)


def signed_draft(draft: EventDraft, signature: DeviceSignature) -> EventDraft:
    """The event of a signed command: it occurred when signed, and its data names the device,
    the amount it signed and the deployment it signed for (``signature`` as :func:`verify`
    returned it).

    SIGNATURE_INVALID when the event would record another amount than the signed one — a
    count card's default single use the device did not name, say: the log never holds an
    amount beside a signature that did not approve it.
    """
    if signature.deployment is None:
        raise ValueError("only a verified signature goes into an event")
    amount = event_amount(draft)
    if amount != signature.signed_amount:
        raise errors.SignatureInvalid(
            f"the device signed amount {signature.signed_amount}, but this "
            f"{draft.type.value} would record {amount}: a signed redemption names the "
            "amount it takes (minor units, or uses of a count card), a pickup step 0"
        )
    return replace(
        draft,
        occurred_at=signature.signed_time,
        data={**draft.data, **signature.to_json(), "deployment": signature.deployment.to_json()},
    )


def anomaly_kind(
    kind: str, signature: DeviceSignature | None, conn: Connection, number: str
) -> str:
    """The console's kind for a refused use: a signed command that a device made before
    the card's winning use reached the ledger is an ``offline_conflict``."""
    if kind != "used_card_attempt" or signature is None:
        return kind
    used_at = conn.execute(sa.select(cards.c.updated_at).where(cards.c.number == number)).scalar()
    if used_at is None:
        return kind
    used_at = used_at if used_at.tzinfo else used_at.replace(tzinfo=UTC)
    return "offline_conflict" if signature.signed_time < used_at else kind


def anomaly_detail(detail: str, signature: DeviceSignature | None) -> str:
    """A refusal's detail, naming the device and signing time of a signed command."""
    if signature is None:
        return detail
    return f"{detail} (signed at {signature.signed_at} by device {signature.signer})"


def normalize_address(address: object) -> str:
    """A 0x address, checksummed; VALIDATION_FAILED otherwise."""
    if not isinstance(address, str) or not address.startswith("0x") or not is_address(address):
        raise errors.ValidationFailed("address must be a 0x Ethereum address (40 hex digits)")
    return str(to_checksum_address(address))


# --- the deployment signatures are bound to (I/O) -----------------------------------------


def current_domain(engine: Engine) -> SigningDomain:
    """The domain devices must sign for now: the current LedgerAnchor deployment.

    Before the first deployment (a fresh data directory that ``cardtrail up`` or
    ``cardtrail deploy`` has not yet deployed to) there is nothing to bind a signature
    to, so signed commands are refused with SIGNATURE_INVALID and may be sent again later.
    """
    with read_transaction(engine) as conn:
        deployment = current_deployment(conn)
    if deployment is None:
        raise errors.SignatureInvalid(
            "this service has no deployed LedgerAnchor contract yet, so there is no "
            "deployment to sign for: signed commands are refused until `cardtrail up` or "
            "`cardtrail deploy` deploys it"
        )
    return SigningDomain(deployment.chain_id, deployment.contract)


def known_domains(engine: Engine) -> list[SigningDomain]:
    """Every deployment the log was ever anchored to, oldest first, retired ones too: an
    event signed before a redeploy was signed for the deployment of its day."""
    with read_transaction(engine) as conn:
        found = all_deployments(conn)
    return [SigningDomain(d.chain_id, d.contract) for d in found]


# --- the key registry and used client ids (I/O) -------------------------------------------


def check_key(conn: Connection, signer: str, store_id: str) -> None:
    """Refuse a signer that is not a live key of ``store_id``."""
    row = conn.execute(sa.select(store_keys).where(store_keys.c.address == signer)).first()
    if row is None:
        raise errors.DeviceKeyUnknown(f"{signer} is not a registered device key")
    if row.store_id != store_id:
        raise errors.DeviceKeyWrongStore(f"{signer} is not a device key of store {store_id}")
    if row.revoked_at is not None:
        raise errors.DeviceKeyRevoked(f"{signer} was revoked")


def find_use(conn: Connection, signer: str, client_id: str) -> Row[Any] | None:
    """The recorded outcome of a device's client id, if it was used."""
    return conn.execute(
        sa.select(device_commands).where(
            device_commands.c.signer == signer, device_commands.c.client_id == client_id
        )
    ).first()


def check_fresh(conn: Connection, signature: DeviceSignature) -> None:
    """Refuse a client id that this device has used before (SIGNATURE_REPLAYED)."""
    if find_use(conn, signature.signer, signature.client_id) is not None:
        raise errors.SignatureReplayed(
            f"client id {signature.client_id} of {signature.signer} was already used"
        )


def record_use(
    conn: Connection,
    signature: DeviceSignature,
    command: StoreCommand,
    now: datetime,
    *,
    card_number: str | None,
    leaf_index: int | None = None,
    state: str | None = None,
    error: errors.LedgerError | None = None,
) -> None:
    """Remember a client id with its outcome: accepted (leaf, state) or refused (error)."""
    conn.execute(
        sa.insert(device_commands),
        {
            "signer": signature.signer,
            "client_id": signature.client_id,
            "store_id": command.store,
            "action": command.action,
            "card_number": card_number,
            "signature": signature.signature,
            "signed_at": signature.signed_time,
            "outcome": "refused" if error is not None else "accepted",
            "leaf_index": leaf_index,
            "state": state,
            "code": error.code if error is not None else None,
            "detail": error.detail[:500] if error is not None else None,
            "recorded_at": now,
        },
    )


def outcome_json(row: Row[Any]) -> dict[str, Any]:
    """A recorded outcome as the sync endpoint reports it."""
    if row.outcome == "accepted":
        return {
            "client_id": row.client_id,
            "status": "accepted",
            "card_number": row.card_number,
            "state": row.state,
            "leaf_index": row.leaf_index,
        }
    return {
        "client_id": row.client_id,
        "status": "refused",
        "card_number": row.card_number,
        "code": row.code,
        "detail": row.detail,
    }


def _key_json(row: Row[Any]) -> dict[str, Any]:
    def stamp(moment: datetime | None) -> str | None:
        if moment is None:
            return None
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return format_timestamp(aware)

    return {
        "address": row.address,
        "store_id": row.store_id,
        "label": row.label,
        "registered_at": stamp(row.registered_at),
        "revoked_at": stamp(row.revoked_at),
        "active": row.revoked_at is None,
    }


class KeyRegistry:
    """The device keys of every store: headquarters registers and revokes, a store token
    lists its own store's keys."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def register(
        self, actor: Actor, store_id: str, address: str, label: str | None = None
    ) -> dict[str, Any]:
        """Register ``address`` as a device key of ``store_id`` (headquarters only)."""
        _hq(actor)
        address = normalize_address(address)
        if label is not None and (not isinstance(label, str) or not 1 <= len(label) <= 200):
            raise errors.ValidationFailed("label must be 1 to 200 characters")
        try:
            with write_transaction(self._engine) as conn:
                self._store_exists(conn, store_id)
                taken = conn.execute(
                    sa.select(store_keys.c.store_id).where(store_keys.c.address == address)
                ).first()
                if taken is not None:
                    raise errors.DeviceKeyExists(f"{address} is already registered")
                conn.execute(
                    sa.insert(store_keys),
                    {
                        "address": address,
                        "store_id": store_id,
                        "label": label,
                        "registered_at": self._clock().astimezone(UTC),
                        "registered_by": actor.id,
                        "revoked_at": None,
                    },
                )
                row = conn.execute(
                    sa.select(store_keys).where(store_keys.c.address == address)
                ).one()
        except sa.exc.IntegrityError:
            raise errors.DeviceKeyExists(f"{address} is already registered") from None
        return _key_json(row)

    def revoke(self, actor: Actor, store_id: str, address: str) -> dict[str, Any]:
        """Revoke a key of ``store_id`` for good (headquarters only); revoking twice is a no-op."""
        _hq(actor)
        address = normalize_address(address)
        with write_transaction(self._engine) as conn:
            query = sa.select(store_keys).where(
                store_keys.c.address == address, store_keys.c.store_id == store_id
            )
            row = conn.execute(query).first()
            if row is None:
                raise errors.DeviceKeyNotFound(f"{address} is not a device key of store {store_id}")
            if row.revoked_at is None:
                conn.execute(
                    sa.update(store_keys)
                    .where(store_keys.c.address == address)
                    .values(revoked_at=self._clock().astimezone(UTC))
                )
                row = conn.execute(query).one()
        return _key_json(row)

    def list(self, actor: Actor, store_id: str) -> list[dict[str, Any]]:
        """The keys of ``store_id``, revoked ones too, oldest first."""
        if actor.role == "store":
            if actor.store_id != store_id:
                raise errors.Forbidden(f"a store token lists only store {actor.store_id}'s keys")
        elif actor.role not in ("hq", "auditor", "system"):
            raise errors.Forbidden(f"the {actor.role} role may not do this")
        with read_transaction(self._engine) as conn:
            self._store_exists(conn, store_id)
            rows = conn.execute(
                sa.select(store_keys)
                .where(store_keys.c.store_id == store_id)
                .order_by(store_keys.c.registered_at, store_keys.c.address)
            ).all()
        return [_key_json(row) for row in rows]

    # ``builtins.list``: inside this class, ``list`` names the method above.
    def public_keys(self, store_ids: set[str]) -> dict[str, builtins.list[dict[str, Any]]]:
        """Every key of the given stores, by store (the portal shows who signed)."""
        if not store_ids:
            return {}
        with read_transaction(self._engine) as conn:
            rows = conn.execute(
                sa.select(store_keys).where(store_keys.c.store_id.in_(sorted(store_ids)))
            ).all()
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row.store_id, []).append(_key_json(row))
        return out

    @staticmethod
    def _store_exists(conn: Connection, store_id: str) -> None:
        if conn.execute(sa.select(stores.c.id).where(stores.c.id == store_id)).first() is None:
            raise errors.StoreNotFound(f"store {str(store_id)[:64]} does not exist")


def _hq(actor: Actor) -> None:
    if actor.role not in ("hq", "system"):
        raise errors.Forbidden(f"the {actor.role} role may not manage device keys")
