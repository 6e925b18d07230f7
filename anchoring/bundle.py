"""Proof bundles: one card's events, their inclusion proofs and the anchored checkpoint.

A bundle (format ``cardtrail-bundle/2``, or the older ``cardtrail-bundle/1``; see
``docs/bundle-format.md``) lets anyone with a chain RPC endpoint check a card's history
without trusting the server that produced it. Version 2 adds the card map
(``docs/card-map.md``): the check ``complete`` proves that the last event shown is the
card's latest anchored one; version 1 bundles pass it with a warning. The check
``balance`` holds a stored-value or count card's value events to their arithmetic, and the
report carries the balance history it proves (:class:`Balance`).
:func:`verify_bundle` runs one named check per rule and never raises for a bad bundle: the
:class:`BundleReport` says which check failed and why. Apart from the ``root_at`` callable
(which asks the chain), everything here is pure.

    >>> from anchoring.bundle import verify_bundle
    >>> report = verify_bundle({"format": "something else"}, root_at=lambda size: b"")
    >>> report.ok, report.checks[0].name
    (False, 'format')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from anchoring import cardmap, merkle
from anchoring.errors import (
    BundleError,
    Error,
    MapProofShapeError,
    MapRootMismatchError,
    VerificationError,
)

FORMAT_V1 = "cardtrail-bundle/1"
FORMAT_V2 = "cardtrail-bundle/2"
FORMAT = FORMAT_V2
"""The format this version of CardTrail serves."""
FORMATS = (FORMAT_V1, FORMAT_V2)
ZERO_HASH = "0" * 64
# Integers beyond 2^53 - 1 lose precision in JavaScript, so the browser's canonical JSON
# would differ from ours: such a bundle cannot be verified the same way everywhere.
MAX_SAFE_INTEGER = 2**53 - 1

RootAt = Callable[[int], bytes]
"""Asks the chain for ``rootAt(tree_size)``; returns 32 zero bytes if never anchored."""

# An honest server starts serving a new checkpoint once its worker has seen the anchor
# confirmed: seconds to a few minutes behind the chain. A bundle that is older than the
# contract's newest checkpoint by less than this (in chain time) is a warning; by more,
# the server kept handing out an old bundle and the freshness check fails.
FRESHNESS_GRACE_SECONDS = 600


@dataclass(frozen=True)
class ChainLatest:
    """What the contract says about checkpoints newer than the bundle's.

    ``tree_size`` is ``latestCheckpoint().treeSize``. ``newer_age`` is how many seconds of
    chain time (the newest block's timestamp minus the anchoring block's) have passed since
    the first checkpoint larger than the bundle's was anchored; None when there is none or
    its ``CheckpointAnchored`` log cannot be found.
    """

    tree_size: int
    newer_age: int | None = None


LatestAt = Callable[[int], ChainLatest]
"""Asks the chain for its newest checkpoint, given the bundle's tree size."""


# --- the bundle, parsed -----------------------------------------------------------------


@dataclass(frozen=True)
class BundleCheckpoint:
    """The anchored checkpoint the bundle's proofs lead to, and where it was anchored."""

    tree_size: int
    root: bytes
    chain_id: int
    contract: str
    tx_hash: str | None
    block_number: int | None


@dataclass(frozen=True)
class BundleEvent:
    """One event: the exact object whose canonical JSON is the leaf, and its proof.

    ``inclusion_proof`` is None for a pending event (recorded, not yet anchored).
    """

    leaf_index: int
    event: Mapping[str, Any]
    leaf_input: bytes
    inclusion_proof: tuple[bytes, ...] | None

    @property
    def seq(self) -> int:
        """The event's position in its card's history, as the event states it."""
        return int(self.event["seq"])


@dataclass(frozen=True)
class BundleCardMap:
    """A version 2 bundle's ``card_map``: the ``CARD_MAP`` leaf that ends the checkpoint's
    tree, its inclusion proof, and the card's map proof (parsed by the check ``complete``)."""

    leaf_index: int
    event: Mapping[str, Any]
    leaf_input: bytes
    inclusion_proof: tuple[bytes, ...]
    proof: Any


@dataclass(frozen=True)
class Bundle:
    """A parsed ``cardtrail-bundle/1`` or ``/2`` document (``card_map`` only in version 2)."""

    card_number: str
    card_salt: bytes
    checkpoint: BundleCheckpoint | None
    events: tuple[BundleEvent, ...]
    pending: tuple[BundleEvent, ...]
    format: str = FORMAT_V1
    """The document's ``format``: a pinned issuer that serves a newer one refuses older."""
    card_map: BundleCardMap | None = None

    @property
    def all_events(self) -> tuple[BundleEvent, ...]:
        """Proven events followed by pending ones: the card's whole history."""
        return self.events + self.pending


_HASH = re.compile(r"[0-9a-f]{64}")
_SALT = re.compile(r"(?:[0-9a-f]{2})+")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_CARD_NUMBER = re.compile(r"[\x21-\x7e]{1,64}")


def _int(value: Any) -> int | None:
    """The value as a JSON integer, or None.

    JavaScript cannot tell ``1`` from ``1.0``, so integral floats count as integers here
    too: both verifiers must accept and refuse the same bundles.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and abs(value) <= MAX_SAFE_INTEGER:
        return value
    return None


def _require_int(obj: Mapping[str, Any], key: str, where: str, minimum: int = 0) -> int:
    value = _int(obj.get(key))
    if value is None or value < minimum:
        raise BundleError(f"{where}.{key} must be an integer ≥ {minimum}")
    return value


def _require(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        raise BundleError(f"{where}.{key} must be {_JSON_NAMES[kind]}")
    return value


_JSON_NAMES: dict[type, str] = {str: "a string", list: "an array", dict: "an object"}


def _hex_hash(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise BundleError(f"{where} must be 64 lowercase hex digits")
    return bytes.fromhex(value)


def _check_json_values(value: Any, where: str) -> None:
    """Refuse values that canonicalise differently in other languages (floats, huge ints)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int | float):
        if _int(value) is None:
            raise BundleError(f"{where} is not an integer within ±(2^53-1)")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json_values(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_values(item, f"{where}.{key}")
        return
    raise BundleError(f"{where} is a {type(value).__name__}; events hold no such values")


def _parse_event(raw: Any, where: str, proven: bool) -> BundleEvent:
    if not isinstance(raw, dict):
        raise BundleError(f"{where} must be an object")
    leaf_index = _require_int(raw, "leaf_index", where)
    event = _require(raw, "event", dict, where)
    _check_json_values(event, f"{where}.event")
    if _int(event.get("leaf_index")) != leaf_index:
        raise BundleError(f"{where}.leaf_index {leaf_index} differs from the event's own")
    _require_int(event, "seq", f"{where}.event")
    proof: tuple[bytes, ...] | None = None
    if proven:
        hashes = _require(raw, "inclusion_proof", list, where)
        proof = tuple(_hex_hash(h, f"{where}.inclusion_proof[{i}]") for i, h in enumerate(hashes))
    return BundleEvent(leaf_index, event, rfc8785.dumps(event), proof)


def _parse_checkpoint(raw: Any) -> BundleCheckpoint | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BundleError("checkpoint must be an object or null")
    contract = raw.get("contract")
    if not isinstance(contract, str) or not _ADDRESS.fullmatch(contract):
        raise BundleError("checkpoint.contract must be a 0x-prefixed 20-byte address")
    tx_hash, block = raw.get("tx_hash"), _int(raw.get("block_number"))
    return BundleCheckpoint(
        tree_size=_require_int(raw, "tree_size", "checkpoint"),
        root=_hex_hash(raw.get("root"), "checkpoint.root"),
        chain_id=_require_int(raw, "chain_id", "checkpoint", minimum=1),
        contract=contract,
        tx_hash=tx_hash if isinstance(tx_hash, str) else None,
        block_number=block,
    )


def _parse_card_map(raw: Any) -> BundleCardMap:
    where = "card_map"
    if not isinstance(raw, dict):
        raise BundleError(f"{where} must be an object")
    leaf_index = _require_int(raw, "leaf_index", where)
    event = _require(raw, "event", dict, where)
    _check_json_values(event, f"{where}.event")
    hashes = _require(raw, "inclusion_proof", list, where)
    proof = tuple(_hex_hash(h, f"{where}.inclusion_proof[{i}]") for i, h in enumerate(hashes))
    map_proof = _require(raw, "proof", dict, where)
    return BundleCardMap(leaf_index, event, rfc8785.dumps(event), proof, map_proof)


def parse_bundle(raw: Any) -> Bundle:
    """Parse a bundle document (as loaded from JSON); raise :class:`BundleError` if malformed."""
    if not isinstance(raw, dict):
        raise BundleError("a bundle must be a JSON object")
    version = raw.get("format")
    if version not in FORMATS:
        want = " or ".join(repr(f) for f in reversed(FORMATS))
        raise BundleError(f"unknown format {str(version)[:40]!r}, want {want}")
    card_number = raw.get("card_number")
    if not isinstance(card_number, str) or not _CARD_NUMBER.fullmatch(card_number):
        raise BundleError("bundle.card_number must be 1–64 printable ASCII characters")
    salt = raw.get("card_salt")
    if not isinstance(salt, str) or not _SALT.fullmatch(salt):
        raise BundleError("bundle.card_salt must be lowercase hex")
    checkpoint = _parse_checkpoint(raw.get("checkpoint"))
    events = _require(raw, "events", list, "bundle")
    pending = _require(raw, "pending", list, "bundle")
    if events and checkpoint is None:
        raise BundleError("bundle has proven events but no checkpoint")
    card_map = None
    if version == FORMAT_V2 and checkpoint is not None:
        card_map = _parse_card_map(raw.get("card_map"))
    parsed = Bundle(
        card_number=card_number,
        card_salt=bytes.fromhex(salt),
        checkpoint=checkpoint,
        events=tuple(_parse_event(e, f"events[{i}]", True) for i, e in enumerate(events)),
        pending=tuple(_parse_event(e, f"pending[{i}]", False) for i, e in enumerate(pending)),
        format=str(version),
        card_map=card_map,
    )
    if not parsed.all_events:
        raise BundleError("bundle holds no events")
    return parsed


# --- the checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """The outcome of one rule: its name, whether it holds, and why (or why not)."""

    name: str
    ok: bool
    reason: str
    warning: bool = False
    """True for a check that holds but wants the reader's attention (``ok`` stays True)."""

    def to_json(self) -> dict[str, object]:
        """``{"name", "ok", "warning", "reason"}``."""
        return {"name": self.name, "ok": self.ok, "warning": self.warning, "reason": self.reason}


@dataclass(frozen=True)
class BundleReport:
    """Every check that was run on a bundle, in order. It verifies only if all hold."""

    checks: tuple[Check, ...]
    bundle: Bundle | None = None
    balance: Balance | None = None
    """The card's balance history when the ``balance`` check holds and the card has value
    events; proven only when the whole report is ``ok`` (pending steps never are)."""

    @property
    def ok(self) -> bool:
        """True when every check holds."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed, in order."""
        return tuple(c for c in self.checks if not c.ok)

    @property
    def warnings(self) -> tuple[Check, ...]:
        """The checks that hold with a warning (a bundle older than the newest checkpoint)."""
        return tuple(c for c in self.checks if c.ok and c.warning)

    def check(self, name: str) -> Check:
        """The check called ``name``; KeyError if it was not run."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, object]:
        """``{"ok", "warnings", "card_number", "checks": [...], "balance"}``."""
        return {
            "ok": self.ok,
            "warnings": [c.name for c in self.warnings],
            "card_number": self.bundle.card_number if self.bundle else None,
            "checks": [c.to_json() for c in self.checks],
            "balance": self.balance.to_json() if self.balance else None,
        }


def card_commitment(card_salt: bytes, card_number: str) -> str:
    """The ``card`` member of every event: SHA-256(card_salt || card_number), hex."""
    return hashlib.sha256(card_salt + card_number.encode("ascii")).hexdigest()


def check_card(bundle: Bundle, expected: str) -> Check:
    """The bundle is about the card the verifier asked about."""
    if bundle.card_number == expected:
        return Check("card", True, f"bundle is for card {expected}")
    return Check("card", False, f"bundle is for card {bundle.card_number}, not {expected}")


def check_commitment(bundle: Bundle) -> Check:
    """Every event's ``card`` is SHA-256(card_salt || card_number)."""
    want = card_commitment(bundle.card_salt, bundle.card_number)
    for item in bundle.all_events:
        if item.event.get("card") != want:
            return Check(
                "commitment",
                False,
                f"event at leaf {item.leaf_index} belongs to another card "
                f"(card {str(item.event.get('card'))[:16]}…, want {want[:16]}…)",
            )
    return Check("commitment", True, f"all {len(bundle.all_events)} events commit to this card")


def check_chain(bundle: Bundle) -> Check:
    """``seq`` runs 0, 1, 2… and each ``prev_event_hash`` is the hash of the previous leaf."""
    previous: BundleEvent | None = None
    history = bundle.all_events
    for want_seq, item in enumerate(history):
        seq = item.seq
        if seq != want_seq:
            # Earlier events sit at seq 0…want_seq-1, so a smaller seq is a repeat.
            if seq < want_seq:
                return Check("chain", False, f"seq {seq} is given twice")
            if any(later.seq == want_seq for later in history[want_seq + 1 :]):
                return Check(
                    "chain", False, f"events out of order: seq {seq} comes before seq {want_seq}"
                )
            missing = f"seq {want_seq}" if seq == want_seq + 1 else f"seq {want_seq}–{seq - 1}"
            return Check("chain", False, f"event {missing} is missing (next is seq {seq})")
        want_prev = hashlib.sha256(previous.leaf_input).hexdigest() if previous else ZERO_HASH
        if item.event.get("prev_event_hash") != want_prev:
            what = f"hash of seq {want_seq - 1}" if previous else "64 zeros for the first event"
            return Check("chain", False, f"seq {want_seq}: prev_event_hash is not the {what}")
        if previous and item.leaf_index <= previous.leaf_index:
            return Check(
                "chain",
                False,
                f"seq {want_seq} is at leaf {item.leaf_index}, "
                f"not after seq {want_seq - 1} (leaf {previous.leaf_index})",
            )
        previous = item
    return Check("chain", True, f"seq 0–{len(history) - 1} linked by prev_event_hash")


# --- the balance (docs/bundle-format.md, "Value events") --------------------------------

VALUE_KINDS = ("stored_value", "count")
"""Card kinds (ISSUED ``data.kind``) that hold a balance; ISSUED without a kind is a pickup card."""
DELTA_SIGN = {
    "LOADED": 1,
    "REFUNDED": 1,
    "BALANCE_RECEIVED": 1,
    "REDEEMED": -1,
    "BALANCE_SENT": -1,
    "ADJUSTED": 1,
}
"""How each value event's ``amount`` moves the balance (ADJUSTED's amount carries its sign)."""


@dataclass(frozen=True)
class BalanceStep:
    """One value event as the balance history shows it.

    ``amount`` is the signed change (for the opening ACTIVATED or ISSUED, the opening
    balance) and ``balance``
    the balance after it; ``pending`` steps are recorded but not anchored: not proven.
    """

    seq: int
    leaf_index: int
    type: str
    amount: int
    balance: int
    pending: bool

    def to_json(self) -> dict[str, object]:
        """``{"seq", "leaf_index", "type", "amount", "balance", "pending"}``."""
        return {
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "type": self.type,
            "amount": self.amount,
            "balance": self.balance,
            "pending": self.pending,
        }


@dataclass(frozen=True)
class Balance:
    """A card's balance history, every step of which adds up (the ``balance`` check)."""

    kind: str
    """``stored_value`` (minor units of the ISSUED ``currency``) or ``count`` (uses left)."""
    currency: str | None
    steps: tuple[BalanceStep, ...]

    @property
    def balance(self) -> int:
        """The balance after the card's last value event, pending or not."""
        return self.steps[-1].balance

    @property
    def proven_balance(self) -> int | None:
        """The balance after the last anchored value event; None when none is anchored."""
        proven = [s for s in self.steps if not s.pending]
        return proven[-1].balance if proven else None

    def to_json(self) -> dict[str, object]:
        """``{"kind", "currency", "balance", "proven_balance", "history": [...]}``."""
        return {
            "kind": self.kind,
            "currency": self.currency,
            "balance": self.balance,
            "proven_balance": self.proven_balance,
            "history": [s.to_json() for s in self.steps],
        }


class _Unbalanced(Exception):
    """A value event that breaks the balance rule; its message is the check's reason."""


def _data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _is_value_event(kind: str, event: Mapping[str, Any]) -> bool:
    """LOADED…BALANCE_RECEIVED always; REDEEMED on a value card or when it states a value
    (a pickup card's REDEEMED carries none); ACTIVATED when it states an opening balance
    or opens a value card."""
    etype, data = event.get("type"), _data(event)
    if etype == "REDEEMED":
        return kind in VALUE_KINDS or "amount" in data or "balance" in data
    if etype == "ACTIVATED":
        return kind in VALUE_KINDS or data.get("balance") is not None
    return etype in DELTA_SIGN


def _opening(kind: str, seq: int, etype: str, data: Mapping[str, Any]) -> int:
    """The opening balance of a ``kind`` card: its ACTIVATED event's ``balance``, or, for
    a card sold at once (ISSUED ``active`` true), the ISSUED ``face_value`` (stored
    value) or ``units`` (count), none meaning 0, as the service opens it."""
    if etype == "ISSUED":
        field = "face_value" if kind == "stored_value" else "units"
        if data.get(field) is None:
            return 0
        opening = _int(data.get(field))
        if opening is None or opening < 0:
            raise _Unbalanced(f"seq {seq}: ISSUED {field} must be an integer ≥ 0")
        return opening
    opening = _int(data.get("balance"))
    if data.get("balance") is None:
        raise _Unbalanced(f"seq {seq}: ACTIVATED of a {kind} card without an opening balance")
    if opening is None or opening < 0:
        raise _Unbalanced(f"seq {seq}: ACTIVATED balance must be an integer ≥ 0")
    return opening


def _step_amount(seq: int, etype: str, data: Mapping[str, Any]) -> int:
    """The signed change a value event states: ``amount`` > 0 (ADJUSTED: ≠ 0), signed."""
    amount = _int(data.get("amount"))
    if etype == "ADJUSTED":
        if amount is None or amount == 0:
            raise _Unbalanced(f"seq {seq}: ADJUSTED amount must be an integer ≠ 0")
        return amount
    if amount is None or amount <= 0:
        raise _Unbalanced(f"seq {seq}: {etype} amount must be an integer > 0")
    return DELTA_SIGN[etype] * amount


def _check_refund(
    seq: int, data: Mapping[str, Any], amount: int, redeemed: dict[int, list[int]]
) -> None:
    """A refund names an earlier redemption of this card (``refund_of``, its leaf index) and
    brings its refunds to at most its amount; ``redeemed`` maps leaf -> [amount, refunded]."""
    target = _int(data.get("refund_of"))
    if target is None or target not in redeemed:
        raise _Unbalanced(
            f"seq {seq}: REFUNDED refund_of is not the leaf index of an earlier redemption "
            "of this card"
        )
    redeemed[target][1] += amount
    if redeemed[target][1] > redeemed[target][0]:
        raise _Unbalanced(
            f"seq {seq}: REFUNDED brings the refunds of the redemption at leaf {target} to "
            f"{redeemed[target][1]}, more than its amount {redeemed[target][0]}"
        )


def _balance_steps(bundle: Bundle) -> tuple[str, str | None, tuple[BalanceStep, ...]]:
    """Walk the card's events in seq order and return its kind, currency and value steps;
    raise ``_Unbalanced`` at the first value event that breaks the rule.

    The rule (docs/bundle-format.md): ACTIVATED, or the ISSUED event of a card sold at
    once, sets the opening balance of a stored_value or count card (once); every later
    value event states ``amount`` and the ``balance`` after it, which is the previous
    balance + its signed change and never negative. A value event on a card with no
    opening balance, or of another kind, fails.
    """
    kind, currency = "pickup", None
    balance: int | None = None
    opened_at: int | None = None
    pending = {item.leaf_index for item in bundle.pending}
    redeemed: dict[int, list[int]] = {}
    steps: list[BalanceStep] = []
    for item in sorted(bundle.all_events, key=lambda e: e.seq):
        seq, event, data = item.seq, item.event, _data(item.event)
        etype = str(event.get("type"))
        if etype == "ISSUED":
            kind = data["kind"] if isinstance(data.get("kind"), str) else "pickup"
            currency = data["currency"] if isinstance(data.get("currency"), str) else None
            if data.get("active") is not True or kind not in VALUE_KINDS:
                continue
        elif not _is_value_event(kind, event):
            continue
        if kind not in VALUE_KINDS:
            raise _Unbalanced(
                f"seq {seq}: {etype} on a {kind} card: only stored_value and count "
                "cards hold a balance"
            )
        if etype in ("ISSUED", "ACTIVATED"):
            if opened_at is not None:
                raise _Unbalanced(
                    f"seq {seq}: {etype} opens the balance again (it was opened at seq {opened_at})"
                )
            balance, opened_at = _opening(kind, seq, etype, data), seq
            steps.append(
                BalanceStep(
                    seq, item.leaf_index, etype, balance, balance, item.leaf_index in pending
                )
            )
            continue
        if etype == "LOADED" and kind != "stored_value":
            raise _Unbalanced(f"seq {seq}: LOADED on a {kind} card: only stored_value cards load")
        if balance is None:
            raise _Unbalanced(
                f"seq {seq}: {etype} before any opening balance (no ACTIVATED with a balance, "
                "nor an ISSUED of a card sold at once)"
            )
        delta = _step_amount(seq, etype, data)
        after = _int(data.get("balance"))
        if after is None:
            raise _Unbalanced(f"seq {seq}: {etype} balance must be an integer")
        if after != balance + delta:
            raise _Unbalanced(
                f"seq {seq}: {etype} changes the balance by {delta} from {balance}, which "
                f"leaves {balance + delta}, but the event says {after}"
            )
        if after < 0:
            raise _Unbalanced(
                f"seq {seq}: {etype} leaves the balance at {after}: a balance is never negative"
            )
        if etype == "REDEEMED":
            redeemed[item.leaf_index] = [-delta, 0]
        if etype == "REFUNDED":
            _check_refund(seq, data, delta, redeemed)
        balance = after
        steps.append(
            BalanceStep(seq, item.leaf_index, etype, delta, after, item.leaf_index in pending)
        )
    return kind, currency, tuple(steps)


def check_balance(bundle: Bundle) -> tuple[Check, Balance | None]:
    """Every value event's balance adds up (:func:`_balance_steps`), and the history it proves:
    None when the check fails or the card has no value events (which passes)."""
    try:
        kind, currency, steps = _balance_steps(bundle)
    except _Unbalanced as exc:
        return Check("balance", False, str(exc)), None
    if not steps:
        return Check("balance", True, "no value events: the card holds no balance"), None
    history = Balance(kind, currency, steps)
    reason = (
        f"{len(steps)} value event(s) add up: balance {history.balance} after seq {steps[-1].seq}"
    )
    unproven = [s for s in steps if s.pending]
    if unproven:
        reason += f"; the balance from seq {unproven[0].seq} on is pending, not proven yet"
    return Check("balance", True, reason), history


def check_inclusion(item: BundleEvent, checkpoint: BundleCheckpoint) -> Check:
    """The event's leaf and inclusion proof lead to the checkpoint's root."""
    name = f"inclusion[{item.leaf_index}]"
    leaf = merkle.hash_leaf(item.leaf_input)
    try:
        merkle.verify_inclusion(
            item.leaf_index,
            checkpoint.tree_size,
            leaf,
            item.inclusion_proof or (),
            checkpoint.root,
        )
    except VerificationError as exc:
        return Check(name, False, f"seq {item.seq} ({item.event.get('type')}): {exc}")
    return Check(
        name,
        True,
        f"seq {item.seq} ({item.event.get('type')}) is leaf "
        f"{item.leaf_index} of the tree of size {checkpoint.tree_size}",
    )


def check_pending(bundle: Bundle) -> Check:
    """Pending events are newer than the checkpoint (else they should carry a proof)."""
    size = bundle.checkpoint.tree_size if bundle.checkpoint else 0
    for item in bundle.pending:
        if item.leaf_index < size:
            return Check(
                "pending",
                False,
                f"event at leaf {item.leaf_index} is inside the "
                f"anchored tree of size {size} but has no proof",
            )
    if not bundle.pending:
        return Check("pending", True, "no pending events")
    return Check(
        "pending",
        True,
        f"{len(bundle.pending)} event(s) recorded after the "
        f"checkpoint, not anchored yet (not proven)",
    )


def check_complete(bundle: Bundle, serves: str | None = None) -> Check:
    """The last proven event is the card's head in the card map that ends the checkpoint's
    tree (``docs/card-map.md``): no anchored event of the card comes after it.

    A version 1 bundle cannot show this: a warning, or a failure when the verifier knows
    (``serves``, from the issuer it is pinned to) that its issuer serves version 2.
    """
    if bundle.format == FORMAT_V1:
        if serves == FORMAT_V2:
            return Check(
                "complete",
                False,
                f"the issuer serves {FORMAT_V2}, but this bundle is {FORMAT_V1}: a downgrade "
                "that would hide whether later events were left out; fetch a fresh bundle",
            )
        return Check(
            "complete",
            True,
            f"{FORMAT_V1}: nothing proves that no later event of the card was left out",
            warning=True,
        )
    checkpoint, card_map = bundle.checkpoint, bundle.card_map
    if checkpoint is None or card_map is None:
        return Check("complete", False, "no checkpoint: nothing is anchored yet")
    size = checkpoint.tree_size
    event = card_map.event
    if card_map.leaf_index != size - 1:
        return Check(
            "complete",
            False,
            f"the card map leaf is leaf {card_map.leaf_index}, but the checkpoint's tree "
            f"of size {size} ends at leaf {size - 1}",
        )
    if (
        event.get("type") != cardmap.CARD_MAP_TYPE
        or _int(event.get("leaf_index")) != card_map.leaf_index
        or _int(event.get("tree_size")) != card_map.leaf_index
        or not isinstance(event.get("map_root"), str)
        or not _HASH.fullmatch(event["map_root"])
    ):
        return Check(
            "complete",
            False,
            f"leaf {card_map.leaf_index} is not a CARD_MAP leaf covering the "
            f"{card_map.leaf_index} leaves before it",
        )
    try:
        merkle.verify_inclusion(
            card_map.leaf_index,
            size,
            merkle.hash_leaf(card_map.leaf_input),
            card_map.inclusion_proof,
            checkpoint.root,
        )
    except VerificationError as exc:
        return Check("complete", False, f"the CARD_MAP leaf is not in the checkpoint's tree: {exc}")
    key = bytes.fromhex(card_commitment(bundle.card_salt, bundle.card_number))
    last = bundle.events[-1] if bundle.events else None
    value = None
    if last is not None:
        head = cardmap.CardHead(last.seq, last.leaf_index, merkle.hash_leaf(last.leaf_input))
        value = head.encode()
    try:
        proof = cardmap.MapProof.from_json(card_map.proof)
        cardmap.verify_map_proof(key, value, proof, bytes.fromhex(event["map_root"]))
    except MapProofShapeError as exc:
        return Check("complete", False, f"the card map proof is malformed: {exc}")
    except MapRootMismatchError:
        if last is None:
            why = "the card has anchored events that the bundle does not show"
        else:
            why = (
                f"seq {last.seq} (leaf {last.leaf_index}) is not the card's latest event in "
                f"the card map of tree size {size - 1}: later events were left out"
            )
        return Check("complete", False, why)
    pending = f"; {len(bundle.pending)} pending event(s) after it, not proven yet"
    shown = (
        f"seq {last.seq} is the card's latest event in the card map of tree size {size - 1}"
        if last is not None
        else f"the card has no event in the card map of tree size {size - 1}"
    )
    return Check("complete", True, shown + (pending if bundle.pending else ""))


def check_network(checkpoint: BundleCheckpoint, chain_id: int) -> Check:
    """The checkpoint names the chain the verifier asks."""
    if checkpoint.chain_id == chain_id:
        return Check("network", True, f"RPC endpoint serves chain {chain_id}")
    return Check(
        "network",
        False,
        f"bundle was anchored on chain {checkpoint.chain_id}, "
        f"the RPC endpoint serves chain {chain_id}",
    )


def check_anchor(checkpoint: BundleCheckpoint | None, root_at: RootAt) -> Check:
    """The contract returns the checkpoint's root from ``rootAt(tree_size)``."""
    if checkpoint is None:
        return Check("anchor", False, "no checkpoint: none of these events is anchored yet")
    try:
        on_chain = root_at(checkpoint.tree_size)
    except Error as exc:
        return Check("anchor", False, f"could not ask the chain: {exc}")
    if on_chain == checkpoint.root:
        return Check(
            "anchor",
            True,
            f"contract {checkpoint.contract} holds root "
            f"{checkpoint.root.hex()[:16]}… for size {checkpoint.tree_size}",
        )
    if on_chain == bytes(32):
        return Check(
            "anchor",
            False,
            f"contract {checkpoint.contract} has no root for size {checkpoint.tree_size}",
        )
    return Check(
        "anchor",
        False,
        f"contract holds root {on_chain.hex()[:16]}… for size "
        f"{checkpoint.tree_size}, bundle says {checkpoint.root.hex()[:16]}…",
    )


def check_freshness(
    checkpoint: BundleCheckpoint, latest: LatestAt, require_fresh: bool = False
) -> Check:
    """The bundle's checkpoint is the contract's newest (see ``FRESHNESS_GRACE_SECONDS``).

    An older one is a warning while the chain moved past it less than the grace period
    ago (an honest server lags by that much), a failure after that or with
    ``require_fresh``: such a bundle may leave out the card's later events.
    """
    size = checkpoint.tree_size
    try:
        head = latest(size)
    except Error as exc:
        return Check(
            "freshness", False, f"could not ask the chain for its newest checkpoint: {exc}"
        )
    if head.tree_size == size:
        return Check("freshness", True, f"size {size} is the contract's newest checkpoint")
    if head.tree_size < size:
        return Check(
            "freshness",
            False,
            f"the contract's newest checkpoint is size "
            f"{head.tree_size}, smaller than the bundle's {size}",
        )
    age = head.newer_age
    since = "at an unknown time" if age is None else f"{age} s ago"
    stale = (
        f"the contract has anchored a newer checkpoint (size {head.tree_size}; the first "
        f"after size {size} was anchored {since}): this bundle may not show events "
        f"recorded since"
    )
    fetch = "fetch a fresh bundle from the card's page"
    if require_fresh:
        return Check("freshness", False, f"{stale}; a fresh bundle is required: {fetch}")
    if age is not None and age > FRESHNESS_GRACE_SECONDS:
        return Check(
            "freshness",
            False,
            f"{stale}; a server still serving it more than "
            f"{FRESHNESS_GRACE_SECONDS} s later is out of date or "
            f"hiding them: {fetch}",
        )
    return Check("freshness", True, f"{stale}; {fetch}", warning=True)


# --- pinned issuers --------------------------------------------------------------------


@dataclass(frozen=True)
class PinnedIssuer:
    """The contract and chain a verifier trusts for an issuer, from outside the bundle
    (``--contract``/``--chain-id``, or an issuer descriptor named by ``source``).

    ``serves`` is the bundle format the issuer says it serves: a bundle of an older
    format is then refused, since a server that hands one out may be hiding what the
    newer format proves.
    """

    chain_id: int
    contract: str
    serves: str | None = None
    source: str = "the command line"


@dataclass(frozen=True)
class IssuerPolicy:
    """What the ``issuer`` check holds a bundle to: a pin, or none (a warning, or a
    failure with ``require_pinned``)."""

    pinned: PinnedIssuer | None = None
    require_pinned: bool = False


def _format_version(name: str) -> int:
    tail = name.rpartition("/")[2]
    return int(tail) if tail.isdigit() else 0


def check_issuer(bundle: Bundle, policy: IssuerPolicy) -> Check:
    """The bundle's checkpoint names the pinned contract and chain.

    Unpinned, the only contract there is to ask is the one the bundle names, and a
    look-alike server can deploy its own: the check holds with a warning, or fails when
    ``require_pinned``.
    """
    pin, checkpoint = policy.pinned, bundle.checkpoint
    if pin is None:
        named = (
            f"contract {checkpoint.contract} on chain {checkpoint.chain_id}"
            if checkpoint
            else "no contract"
        )
        unpinned = (
            f"no issuer pinned: the bundle names {named} itself, and a look-alike server "
            "can name a contract of its own; pin the issuer's (--issuer FILE_OR_URL, or "
            "--contract ADDRESS --chain-id ID)"
        )
        if policy.require_pinned:
            return Check("issuer", False, unpinned)
        return Check("issuer", True, unpinned, warning=True)
    if pin.serves and _format_version(bundle.format) < _format_version(pin.serves):
        return Check(
            "issuer",
            False,
            f"the issuer serves {pin.serves} ({pin.source}), this bundle is {bundle.format}: "
            "an older format proves less, so it is refused (a downgrade)",
        )
    if checkpoint is None:
        return Check("issuer", True, f"pinned contract {pin.contract} on chain {pin.chain_id}")
    if checkpoint.chain_id != pin.chain_id or checkpoint.contract.lower() != pin.contract.lower():
        return Check(
            "issuer",
            False,
            f"the bundle names contract {checkpoint.contract} on chain {checkpoint.chain_id}, "
            f"the pinned issuer ({pin.source}) is contract {pin.contract} on chain "
            f"{pin.chain_id}",
        )
    return Check(
        "issuer",
        True,
        f"contract {pin.contract} on chain {pin.chain_id} is the pinned issuer's ({pin.source})",
    )


def verify_bundle(
    bundle: Mapping[str, Any] | Bundle,
    root_at: RootAt,
    chain_id: int | None = None,
    card_number: str | None = None,
    latest: LatestAt | None = None,
    require_fresh: bool = False,
    issuer: IssuerPolicy | None = None,
    serves: str | None = None,
) -> BundleReport:
    """Run every check on ``bundle`` and report each one.

    ``root_at`` asks the contract named in the bundle; ``chain_id`` is the chain the RPC
    endpoint serves (checked against the bundle's when given); ``card_number`` is the card
    the verifier asked about (checked against the bundle's when given). The chain is only
    asked when the bundle names the chain being asked. ``latest`` asks the contract for
    its newest checkpoint: when given, and the root is anchored, the ``freshness`` check
    runs (``require_fresh`` turns its warning into a failure). ``issuer``, when given,
    adds the ``issuer`` check right after ``format``: ``root_at`` and ``latest`` must then
    ask the pinned contract, and are not asked at all when the bundle names another.
    ``serves`` is the bundle format the verifier's pinned issuer serves (by default the
    pin's own): a version 1 bundle from an issuer that serves version 2 fails ``complete``
    (a downgrade) instead of passing with a warning.
    """
    if isinstance(bundle, Bundle):
        parsed = bundle
    else:
        try:
            parsed = parse_bundle(bundle)
        except BundleError as exc:
            return BundleReport((Check("format", False, str(exc)),))
    checks = [
        Check(
            "format",
            True,
            f"{parsed.format}: {len(parsed.events)} proven, {len(parsed.pending)} pending",
        )
    ]
    pinned = check_issuer(parsed, issuer) if issuer is not None else None
    if pinned is not None:
        checks.append(pinned)
    if card_number is not None:
        checks.append(check_card(parsed, card_number))
    balance, history = check_balance(parsed)
    checks += [check_commitment(parsed), check_chain(parsed), check_pending(parsed), balance]
    checkpoint = parsed.checkpoint
    if checkpoint is not None:
        checks += [check_inclusion(item, checkpoint) for item in parsed.events]
    if serves is None and issuer is not None and issuer.pinned is not None:
        serves = issuer.pinned.serves
    checks.append(check_complete(parsed, serves))
    if pinned is not None and not pinned.ok and issuer is not None and issuer.pinned:
        checks.append(Check("anchor", False, "not asked: the bundle is not the pinned issuer's"))
        return BundleReport(tuple(checks), parsed, history)
    if checkpoint is not None and chain_id is not None:
        network = check_network(checkpoint, chain_id)
        checks.append(network)
        if not network.ok:
            checks.append(
                Check("anchor", False, "not asked: the RPC endpoint serves another chain")
            )
            return BundleReport(tuple(checks), parsed, history)
    anchor = check_anchor(checkpoint, root_at)
    checks.append(anchor)
    if anchor.ok and checkpoint is not None and latest is not None:
        checks.append(check_freshness(checkpoint, latest, require_fresh))
    return BundleReport(tuple(checks), parsed, history)


_CAVEATS = {
    "freshness": "not at the newest checkpoint: it may not show the card's later events",
    "issuer": "against the contract the bundle itself names (no issuer pinned)",
    "complete": f"a {FORMAT_V1} bundle, which cannot prove that it shows every event: "
    "it may not show the card's later events",
}


def _mark(check: Check) -> str:
    if not check.ok:
        return "FAIL"
    return "WARN" if check.warning else "PASS"


def _balance_lines(balance: Balance) -> list[str]:
    unit = balance.kind + (f", {balance.currency}" if balance.currency else "")
    lines = [f"balance history ({unit}; minor units or uses):"]
    for step in balance.steps:
        change = "opening" if step.type in ("ISSUED", "ACTIVATED") else f"{step.amount:+d}"
        unproven = "  (pending: not proven yet)" if step.pending else ""
        lines.append(
            f"  seq {step.seq:<5} {step.type:<17} {change:>10} -> {step.balance}{unproven}"
        )
    return lines


def summarise(report: BundleReport) -> Sequence[str]:
    """A readable report, one line per check, for people and terminals; then the balance
    history when the bundle verifies and proves one; the verdict last."""
    lines = [f"{_mark(c)}  {c.name:<16} {c.reason}" for c in report.checks]
    if report.ok and report.balance is not None:
        lines += _balance_lines(report.balance)
    if not report.ok:
        verdict = f"bundle does NOT verify ({len(report.failures)} failed check(s))"
    elif report.warnings:
        verdict = "bundle verifies, but " + "; and ".join(
            _CAVEATS.get(c.name, c.reason) for c in report.warnings
        )
    else:
        verdict = "bundle verifies"
    return [*lines, verdict]
