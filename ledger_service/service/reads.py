"""Reading the ledger: a card's history (public and merchant views) and the anomaly list.

Reads take a read transaction (one consistent snapshot) and never block writers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_leaves
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain import lockout
from ledger_service.domain.numbers import format_card_number
from ledger_service.schema import anomalies, cards, events, pickups
from ledger_service.service import checks
from ledger_service.service.checks import READERS, require_role
from ledger_service.service.rows import card_or_404, lock_state, stamp, utc
from ledger_service.service.transaction import CommandRunner


@dataclass(frozen=True)
class HistoryEvent:
    """One event of a card: its leaf index, the exact event object and its leaf bytes."""

    leaf_index: int
    event: dict[str, Any]
    leaf_input: bytes


@dataclass(frozen=True)
class CardHistory:
    """What a card number's holder may see and verify: salt, state and every event."""

    card_number: str
    card_salt: bytes
    state: str
    events: tuple[HistoryEvent, ...]


# The card, its events and their leaves in one round-trip: public pages read it per request.
_CARD_AND_LEAVES = (
    sa.select(cards.c.salt, cards.c.state, events.c.leaf_index, log_leaves.c.leaf_input)
    .select_from(
        cards.outerjoin(events, events.c.card_number == cards.c.number).outerjoin(
            log_leaves, log_leaves.c.leaf_index == events.c.leaf_index
        )
    )
    .where(cards.c.number == sa.bindparam("number"))
    .order_by(events.c.seq)
)


def read_card_history(conn: Connection, number: str) -> CardHistory:
    """The history of the card ``number`` (normalised), read on the caller's transaction.

    Raises CardNotFound when there is no such card, and the log's own error when an event's
    leaf is missing from it. Sees the leaves its transaction holds (group commit).
    """
    rows = conn.execute(_CARD_AND_LEAVES, {"number": number}).all()
    if not rows:
        raise errors.CardNotFound("no card has this number")
    history = []
    for row in rows:
        if row.leaf_index is None:
            continue  # the outer join's row of a card without events
        # A leaf not stored is either held for the group's commit (group commit) or
        # missing, which the log's own error says.
        stored = row.leaf_input
        leaf = bytes(stored) if stored is not None else MerkleLog(conn).leaf_input(row.leaf_index)
        history.append(HistoryEvent(row.leaf_index, json.loads(leaf), leaf))
    return CardHistory(number, bytes(rows[0].salt), rows[0].state, tuple(history))


class CardReads(CommandRunner):
    """The merchant's and the holder's views of a card, and the console's anomalies."""

    def get_card(self, actor: Actor, number: str) -> dict[str, Any]:
        """The merchant's view of a card: its fields, state, lock, pickups and events."""
        require_role(actor, READERS)
        number = checks.card_number(number)
        with read_transaction(self._engine) as conn:
            row = card_or_404(conn, number)
            history = read_card_history(conn, number).events
            pickup_rows = conn.execute(
                sa.select(pickups)
                .where(pickups.c.card_number == number)
                .order_by(pickups.c.requested_at)
            ).all()
        if actor.role == "store":
            # Store staff see only their own store's pickups: another store's, and the
            # delivery addresses, are none of their business.
            pickup_rows = [p for p in pickup_rows if p.store_id == actor.store_id]
        locked = lockout.locked_for(lock_state(row), self._now())
        return {
            "card_number": number,
            "display_number": format_card_number(number),
            "state": row.state,
            "product": row.product,
            "face_value": row.face_value,
            "currency": row.currency,
            "allowed_stores": json.loads(row.allowed_stores),
            "allowed_regions": json.loads(row.allowed_regions),
            "expires_at": stamp(utc(row.expires_at)),
            "holder_ref": row.holder_ref,
            "batch_ref": row.batch_ref,
            "issued_at": stamp(utc(row.issued_at)),
            "kind": row.kind,
            "sku": row.sku,
            "balance": row.balance,
            "channel_id": row.channel_id,
            "sale_price": row.sale_price,
            "activated_at": stamp(utc(row.activated_at)),
            "code_failures": row.code_failures,
            "code_locked_until": stamp(utc(row.code_locked_until)) if locked else None,
            "pickups": [
                {
                    "pickup_id": p.id,
                    "mode": p.mode,
                    "store_id": p.store_id,
                    "address_ref": p.address_ref,
                    "state": p.state,
                    "requested_at": stamp(utc(p.requested_at)),
                }
                for p in pickup_rows
            ],
            "events": [item.event for item in history],
        }

    def card_history(self, card_number: str) -> CardHistory:
        """Everything a holder of the number may see and verify (public view, bundles)."""
        with read_transaction(self._engine) as conn:
            return read_card_history(conn, checks.card_number(card_number))

    def anomalies(
        self,
        actor: Actor,
        *,
        kind: str | None = None,
        since: datetime | None = None,
        store_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Recent anomalies for the console, newest first (headquarters and auditors)."""
        require_role(actor, ("hq", "auditor", "system"))
        query = sa.select(anomalies).order_by(anomalies.c.at.desc(), anomalies.c.id.desc())
        if kind is not None:
            query = query.where(anomalies.c.kind == kind)
        if since is not None:
            query = query.where(anomalies.c.at >= since.astimezone(UTC))
        if store_id is not None:
            query = query.where(anomalies.c.store_id == store_id)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(query.limit(max(1, min(limit, 1000)))).all()
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "card_number": r.card_number,
                "store_id": r.store_id,
                "at": stamp(utc(r.at)),
                "actor": {"role": r.actor_role, "id": r.actor_id},
                "detail": r.detail,
            }
            for r in rows
        ]
