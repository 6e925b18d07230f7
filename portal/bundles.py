"""What the public pages show about a card, computed once per request outside the views.

:func:`load_card` reads the card's history, proves every event that the latest anchored
checkpoint covers (the rest are *pending*), assembles the ``cardtrail-bundle/2`` document
(``cardtrail-bundle/1`` when that checkpoint's tree does not end with a ``CARD_MAP`` leaf,
as checkpoints anchored before the card map do not)
and runs the same checks as the auditor's verifier against the checkpoints this server
has recorded as anchored — which is what the page shows visitors without JavaScript, and
says is not an independent check.

    >>> status_of("REDEEMED").key, status_of("ISSUED").key
    ('used', 'unused')
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from eth_utils.abi import event_signature_to_log_topic, function_signature_to_4byte_selector
from flask_babel import gettext
from sqlalchemy.engine import Connection, Engine

from anchoring import checkpoints
from anchoring.bundle import (
    FORMAT_V1,
    FORMAT_V2,
    BundleReport,
    card_commitment,
    verify_bundle,
)
from anchoring.cardmap_leaf import parse_map_leaf
from anchoring.cardmap_store import CardMapStore
from anchoring.db import read_transaction
from anchoring.errors import LogIntegrityError, TreeSizeError
from anchoring.log import MerkleLog
from anchoring.types import AnchoredCheckpoint
from ledger_service.domain import value as card_value
from ledger_service.domain.expiry_dates import shown_state
from ledger_service.domain.lifecycle import PICKUP_IN_PROGRESS, UNUSED, USED, CardState
from ledger_service.errors import N_, LogInconsistent
from ledger_service.schema import stores
from ledger_service.service import CardHistory, read_card_history
from portal.i18n import EVENT_WORDS, word

log = logging.getLogger(__name__)

ROOT_AT_SELECTOR = "0x" + function_signature_to_4byte_selector("rootAt(uint64)").hex()
"""The 4-byte selector of ``rootAt(uint64)``: the browser has SHA-256 but no keccak."""
LATEST_CHECKPOINT_SELECTOR = "0x" + function_signature_to_4byte_selector("latestCheckpoint()").hex()
"""The 4-byte selector of ``latestCheckpoint()``, for the browser's freshness check."""
ANCHORED_TOPIC = (
    "0x" + event_signature_to_log_topic("CheckpointAnchored(uint64,bytes32,uint256)").hex()
)
"""The log topic of ``CheckpointAnchored``: when the chain moved past the bundle's checkpoint."""


@dataclass(frozen=True)
class Status:
    """The card's status in one word (``key``), what to do about it, and a sentence.

    ``headline_id``, ``label_id`` and ``detail_id`` are English message ids; ``headline``,
    ``label`` and ``detail`` say them in the request's language. ``accept`` is whether a
    shop may take the card now: only then does the page show it in green."""

    key: str
    label_id: str
    detail_id: str
    headline_id: str = N_("Do not accept this card")
    accept: bool = False

    @property
    def headline(self) -> str:
        """What to do with the card, in the request's language: the page's first words."""
        return str(gettext(self.headline_id))

    @property
    def label(self) -> str:
        """The status in a few words, in the request's language."""
        return str(gettext(self.label_id))

    @property
    def detail(self) -> str:
        """The status in a sentence, in the request's language."""
        return str(gettext(self.detail_id))


_STATUS = {
    "unused": Status(
        "unused",
        N_("Genuine and unused"),
        N_("This card was issued by the merchant and has not been used."),
        N_("You can accept this card"),
        accept=True,
    ),
    "pickup": Status(
        "used",
        N_("Used — pickup in progress"),
        N_("The goods of this card have been requested; it cannot be used again."),
        N_("Used — do not accept"),
    ),
    "used": Status(
        "used",
        N_("Used"),
        N_("This card has already been redeemed or picked up."),
        N_("Used — do not accept"),
    ),
    "blocked": Status(
        "blocked",
        N_("Blocked"),
        N_("The merchant has blocked this card for now; do not accept it."),
        N_("Blocked — do not accept"),
    ),
    "voided": Status(
        "voided",
        N_("Voided"),
        N_("The merchant voided this card; it has no value."),
        N_("Voided — do not accept"),
    ),
    "inactive": Status(
        "inactive",
        N_("Not sold yet"),
        N_("This card has not been sold yet: it cannot be used until a shop sells it."),
        N_("Not sold yet — do not accept"),
    ),
    "expired": Status(
        "expired",
        N_("Expired"),
        N_("This card has expired."),
        N_("Expired — do not accept"),
    ),
}

NOT_FOUND = Status(
    "not_found",
    N_("Not found"),
    N_("No card with this number can be shown. Check the number on the card."),
)


def status_of(state: str) -> Status:
    """The public status of a card in ``state`` (a :class:`CardState` value)."""
    card_state = CardState(state)
    # A card on offer as a gift still holds its goods: genuine and unused.
    if card_state in UNUSED or card_state is CardState.GIFT_OFFERED:
        return _STATUS["unused"]
    if card_state in PICKUP_IN_PROGRESS:
        return _STATUS["pickup"]
    if card_state in USED:
        return _STATUS["used"]
    return _STATUS[card_state.value.lower()]


@dataclass(frozen=True)
class TimelineEntry:
    """One event as the public page shows it: no holder data, store by name."""

    seq: int
    leaf_index: int
    type: str
    label: str
    occurred_at: str
    store_id: str | None
    store_name: str | None
    detail: str
    pending: bool
    signer: str | None = None
    """The store device key that signed the event, as the event names it."""

    def to_json(self) -> dict[str, Any]:
        """The event in the public card JSON."""
        return {
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "store_id": self.store_id,
            "store_name": self.store_name,
            "pending": self.pending,
        }


def _detail(
    event: dict[str, Any], issuer: str, zone: tzinfo, issued: dict[str, Any] | None = None
) -> str:
    data = event.get("data") or {}
    kind = event.get("type")
    if kind == "ISSUED":
        parts = [gettext("by %(issuer)s", issuer=issuer)]
        if data.get("product"):
            parts.append(str(data["product"]))
        if data.get("face_value") is not None and data.get("currency"):
            parts.append(f"{data['face_value'] / 100:.2f} {data['currency']}")
        if data.get("expires_at"):
            until = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
            until = until if until.tzinfo else until.replace(tzinfo=UTC)
            local = until.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            parts.append(gettext("valid until %(date)s", date=local))
        return " · ".join(parts)
    if isinstance(data.get("balance"), int) and issued is not None:
        return balance_line([{"type": "ISSUED", "data": issued}, event]) or ""
    if kind == "PICKUP_REQUESTED":
        if data.get("mode") == "store":
            return str(gettext("to collect in store"))
        return str(gettext("for delivery"))
    return ""


@dataclass(frozen=True)
class CardPage:
    """Everything the card page, the card JSON and the bundle route need about one card."""

    history: CardHistory
    status: Status
    timeline: tuple[TimelineEntry, ...]
    bundle: dict[str, Any]
    checkpoint: AnchoredCheckpoint | None
    issuer: str = ""
    """The issuer's name for people (the pinned descriptor's, else the configured one)."""
    where: str = ""
    """Where the card can be used, in words (its allowed stores and regions)."""

    @functools.cached_property
    def server_report(self) -> BundleReport:
        """This server's own check of the bundle, against the root it recorded as anchored.

        Computed when first asked (the card page without JavaScript shows it): the bundle
        and JSON routes do not need it.
        """
        anchored = self.checkpoint
        # The bundle proves against the latest anchored checkpoint only, so that is the
        # one root the check needs: reading every checkpoint would grow with the chain.
        recorded = {anchored.checkpoint.tree_size: anchored.checkpoint.root} if anchored else {}
        return verify_bundle(
            self.bundle,
            lambda tree_size: recorded.get(tree_size, bytes(32)),
            chain_id=anchored.chain_id if anchored else None,
            card_number=self.history.card_number,
        )

    @property
    def balance(self) -> str | None:
        """The card's balance after its latest event, for people (server-side): money of a
        stored-value card, uses left of a count card; None for other cards."""
        events = [e.event for e in self.history.events]
        return balance_line(events)

    @property
    def pickup_steps(self) -> tuple[tuple[str, bool], ...]:
        """The latest pickup's progress, requested → ready/shipped → completed."""
        kinds = [e.type for e in self.timeline]
        if "PICKUP_REQUESTED" not in kinds:
            return ()
        after = kinds[len(kinds) - 1 - kinds[::-1].index("PICKUP_REQUESTED") :]
        middle = "PICKUP_SHIPPED" if "PICKUP_SHIPPED" in after else "PICKUP_READY"
        steps = ("PICKUP_REQUESTED", middle, "PICKUP_COMPLETED")
        return tuple((word(EVENT_WORDS, s), s in after) for s in steps)

    def public_json(self) -> dict[str, Any]:
        """``GET /api/v1/public/cards/<number>``: status and events, no holder data."""
        cp = self.checkpoint
        return {
            "card_number": self.history.card_number,
            "status": self.status.key,
            "status_label": self.status.label,
            "events": [e.to_json() for e in self.timeline],
            "balance": _balance_of([e.event for e in self.history.events]),
            "checkpoint": None
            if cp is None
            else {
                "tree_size": cp.checkpoint.tree_size,
                "root": cp.checkpoint.root.hex(),
                "chain_id": cp.chain_id,
                "contract": cp.contract,
            },
        }


def _balance_of(events: list[dict[str, Any]]) -> int | None:
    """The balance after the card's latest value event (None: a card without one)."""
    history = card_value.balance_history(events)
    return history[-1][1] if history else None


def balance_line(events: list[dict[str, Any]]) -> str | None:
    """``Balance: 54.00 CNY`` or ``Uses left: 3`` from a card's events; None for a card
    that holds no balance."""
    balance = _balance_of(events)
    if balance is None:
        return None
    issued = next((e.get("data") or {} for e in events if e.get("type") == "ISSUED"), {})
    if issued.get("kind") == "count":
        return str(gettext("Uses left: %(count)s", count=balance))
    currency = issued.get("currency") or ""
    return str(gettext("Balance: %(amount)s", amount=f"{balance / 100:.2f} {currency}".strip()))


def build_bundle(
    history: CardHistory,
    log: MerkleLog,
    anchored: AnchoredCheckpoint | None,
    card_map: CardMapStore | None = None,
) -> dict[str, Any]:
    """The bundle document: events under the checkpoint proven, the rest pending.

    ``cardtrail-bundle/2`` with the card's map proof when ``card_map`` holds the map whose
    ``CARD_MAP`` leaf ends the checkpoint's tree; ``cardtrail-bundle/1`` otherwise.
    """
    size = anchored.checkpoint.tree_size if anchored else 0
    proven = [e for e in history.events if e.leaf_index < size]
    pending = [e for e in history.events if e.leaf_index >= size]
    map_version = card_map.version(size - 1) if card_map is not None and size else None
    wanted = [e.leaf_index for e in proven] + ([size - 1] if map_version else [])
    proofs = log.inclusion_proofs(wanted, size) if wanted else {}
    bundle = {
        "format": FORMAT_V2 if map_version else FORMAT_V1,
        "card_number": history.card_number,
        "card_salt": history.card_salt.hex(),
        "checkpoint": anchored.to_json() if anchored else None,
        "events": [
            {
                "leaf_index": e.leaf_index,
                "event": e.event,
                "inclusion_proof": [h.hex() for h in proofs[e.leaf_index].hashes],
            }
            for e in proven
        ],
        "pending": [{"leaf_index": e.leaf_index, "event": e.event} for e in pending],
    }
    if map_version is not None and card_map is not None:
        key = bytes.fromhex(card_commitment(history.card_salt, history.card_number))
        proof, _ = card_map.prove(key, map_version.version)
        bundle["card_map"] = {
            "leaf_index": size - 1,
            "event": parse_map_leaf(log.leaf_input(size - 1)),
            "inclusion_proof": [h.hex() for h in proofs[size - 1].hashes],
            "proof": proof.to_json(),
        }
    return bundle


# The card, its events in order and their leaf inputs in one round-trip; a card without
# events still gives one row (the outer joins), an event whose leaf is missing a NULL input.
_STORE_NAMES = sa.select(stores.c.id, stores.c.name).where(
    stores.c.id.in_(sa.bindparam("ids", expanding=True))
)


def _allowed(history: CardHistory) -> tuple[list[str], list[str]]:
    """The stores and regions the card's ISSUED event allows (empty: everywhere)."""
    for item in history.events:
        if item.event.get("type") == "ISSUED":
            data = item.event.get("data") or {}
            return list(data.get("allowed_stores") or []), list(data.get("allowed_regions") or [])
    return [], []


def where_usable(issuer: str, stores: list[str], regions: list[str], names: dict[str, str]) -> str:
    """Where a card can be used, for people: its stores by name and its regions, or
    every store of ``issuer`` when the card names none."""
    if not stores and not regions:
        return str(gettext("Accepted at every store of %(issuer)s.", issuer=issuer))
    parts = []
    if stores:
        listed = ", ".join(names.get(s, s) for s in stores)
        parts.append(str(gettext("Accepted only at: %(stores)s.", stores=listed)))
    if regions:
        listed = ", ".join(regions)
        parts.append(str(gettext("Accepted only in the region(s): %(regions)s.", regions=listed)))
    return " ".join(parts)


def _store_names(conn: Connection, history: CardHistory) -> dict[str, str]:
    used = {e.event["store_id"] for e in history.events if e.event.get("store_id")}
    ids = sorted(used | set(_allowed(history)[0]))
    if not ids:
        return {}
    return {row.id: row.name for row in conn.execute(_STORE_NAMES, {"ids": ids})}


def issued_expiry(history: CardHistory) -> datetime | None:
    """The card's expiry date as its ISSUED event logged it (None: it never expires)."""
    for item in history.events:
        if item.event.get("type") == "ISSUED":
            raw = (item.event.get("data") or {}).get("expires_at")
            if not raw:
                return None
            until = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            return until if until.tzinfo else until.replace(tzinfo=UTC)
    return None


@dataclass(frozen=True)
class CardProofs:
    """A card's history proven against the latest anchored checkpoint: all the bundle
    route needs, without the page's words (timeline, status, store names)."""

    history: CardHistory
    checkpoint: AnchoredCheckpoint | None
    bundle: dict[str, Any]


def _log_inconsistent(exc: Exception) -> LogInconsistent:
    log.error("the stored log failed its own consistency check: %s; run cardtrail audit", exc)
    return LogInconsistent(
        f"the stored log failed its own consistency check ({exc}), so this server cannot "
        "prove the card's events; auditors should run `cardtrail audit` on its database"
    )


def _read_proofs(conn: Connection, number: str) -> CardProofs:
    history = read_card_history(conn, number)
    anchored = checkpoints.latest_anchored(conn)
    bundle = build_bundle(history, MerkleLog(conn), anchored, CardMapStore(conn))
    return CardProofs(history, anchored, bundle)


def load_proofs(engine: Engine, number: str) -> CardProofs:
    """The card ``number`` (normalised) and its bundle, in one snapshot.

    Raises CardNotFound if there is none, and LogInconsistent as :func:`load_card` does.
    """
    try:
        with read_transaction(engine) as conn:
            return _read_proofs(conn, number)
    except (TreeSizeError, LogIntegrityError) as exc:
        raise _log_inconsistent(exc) from None


def load_card(
    engine: Engine,
    number: str,
    issuer: str,
    zone: tzinfo = UTC,
    now: datetime | None = None,
) -> CardPage:
    """Everything about the card ``number`` (normalised); dates for people in ``zone``.

    A card past its date at ``now`` (default: the present) is shown expired even while
    its EXPIRED event is still to be written (:mod:`ledger_service.domain.expiry_dates`).

    Raises CardNotFound if there is none, and LogInconsistent when the stored log cannot
    give the card's leaves or proofs (a damaged database).
    """
    # Every leaf index and tree size asked for below comes from the database itself (the
    # events table, the recorded checkpoint), so a TreeSizeError here is the store
    # contradicting itself, like a missing leaf or node, not a bad request.
    try:
        with read_transaction(engine) as conn:
            proofs = _read_proofs(conn, number)
            stores_by_id = _store_names(conn, proofs.history)
    except (TreeSizeError, LogIntegrityError) as exc:
        raise _log_inconsistent(exc) from None
    history, anchored = proofs.history, proofs.checkpoint
    size = anchored.checkpoint.tree_size if anchored else 0
    issued = next(
        (e.event.get("data") or {} for e in history.events if e.event.get("type") == "ISSUED"),
        None,
    )
    timeline = tuple(
        TimelineEntry(
            seq=e.event["seq"],
            leaf_index=e.leaf_index,
            type=e.event["type"],
            label=word(EVENT_WORDS, e.event["type"]),
            occurred_at=e.event["occurred_at"],
            store_id=e.event.get("store_id"),
            store_name=stores_by_id.get(e.event["store_id"]) if e.event.get("store_id") else None,
            detail=_detail(e.event, issuer, zone, issued),
            pending=e.leaf_index >= size,
            signer=(e.event.get("data") or {}).get("signer"),
        )
        for e in history.events
    )
    where = where_usable(issuer, *_allowed(history), stores_by_id)
    shown = shown_state(history.state, issued_expiry(history), now or datetime.now(UTC))
    return CardPage(
        history, status_of(shown), timeline, proofs.bundle, anchored, issuer=issuer, where=where
    )
