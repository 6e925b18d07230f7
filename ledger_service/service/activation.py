"""Activation at sale: one card, a batch or a range of numbers goes from INACTIVE (stock)
to ISSUED (sold), one ACTIVATED event per card, in one transaction.

The event records the channel and the sale price; a value card opens with its balance.
An activation naming a channel sells from that channel's allocation at its price
(:func:`ledger_service.service.channels.sell_from`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import Activate, CardState, Store, decide
from ledger_service.events import MAX_SAFE_INTEGER
from ledger_service.schema import cards, events
from ledger_service.service.channels import channel_or_404, sell_from
from ledger_service.service.checks import card_number, require_role, valid
from ledger_service.service.events_log import bulk_insert, chunks, log_events
from ledger_service.service.issuance import MAX_BATCH
from ledger_service.service.products import products_of
from ledger_service.service.rows import card_of, store_or_404, update_card
from ledger_service.service.transaction import CommandRunner, head

SELLERS = ("hq", "store", "system")
"""Roles that may activate (sell) cards: a store token sells at its own store."""


class Activation(CommandRunner):
    """Selling cards: INACTIVE → ISSUED."""

    def activate(
        self,
        actor: Actor,
        number: str,
        *,
        channel_id: str | None = None,
        price: int | None = None,
        store_id: str | None = None,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Activate one card: it is sold (through ``channel_id``, at ``price``, at
        ``store_id``) and may be used from now on."""
        done = self.activate_cards(
            actor,
            numbers=[number],
            channel_id=channel_id,
            price=price,
            store_id=store_id,
            within=within,
        )
        return done["cards"][0]  # type: ignore[no-any-return]

    def activate_cards(
        self,
        actor: Actor,
        *,
        numbers: Sequence[str] | None = None,
        batch_ref: str | None = None,
        first: str | None = None,
        last: str | None = None,
        channel_id: str | None = None,
        price: int | None = None,
        store_id: str | None = None,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Activate cards in one transaction, one ACTIVATED event each: the listed
        ``numbers`` (each must be INACTIVE), or every INACTIVE card of ``batch_ref``, or
        of the numbers from ``first`` to ``last`` (inclusive). Up to :data:`MAX_BATCH`.

        With ``channel_id`` the cards are sold from that channel's allocations at its
        prices (ALLOCATION_EXHAUSTED if too few are left); else at ``price`` (or none).
        A store token sells at its own store.
        """
        require_role(actor, SELLERS)
        chosen = _selection(numbers, batch_ref, first, last)
        if price is not None and (
            isinstance(price, bool)
            or not isinstance(price, int)
            or not 0 <= price <= MAX_SAFE_INTEGER
        ):
            raise errors.ValidationFailed("price must be a whole number of minor units, >= 0")
        if channel_id is not None and price is not None:
            raise errors.ValidationFailed("a channel sale takes the channel's price")
        at = _selling_store(actor, store_id)
        now = self._now()
        with self._run(within) as conn:
            log, size = head(conn)
            rows = _cards_of(conn, chosen)
            store = store_or_404(conn, at) if at else None
            prices: dict[str, int] = {}
            if channel_id is not None:
                channel_or_404(conn, valid(check_store_id, channel_id, "channel_id"))
                if any(row.sku is None for row in rows):
                    raise errors.ValidationFailed(
                        "a channel sells cards of catalogue products only (these have no sku)"
                    )
                prices = sell_from(conn, channel_id, Counter(row.sku for row in rows), now)
            done = self._activate_rows(
                conn, log, size, actor, now, rows, channel_id, prices, price, store
            )
        return {"activated": len(done), "cards": done}

    def _activate_rows(
        self,
        conn: Connection,
        log: Any,
        size: int,
        actor: Actor,
        now: datetime,
        rows: Sequence[Row[Any]],
        channel_id: str | None,
        prices: dict[str, int],
        price: int | None,
        store: Store | None,
    ) -> list[dict[str, Any]]:
        units = {
            sku: row.units for sku, row in products_of(conn, {r.sku for r in rows if r.sku}).items()
        }
        drafts = []
        for row in rows:
            card = dataclasses.replace(card_of(row), units=units.get(row.sku))
            sale = prices.get(row.sku, price) if channel_id else price
            drafts.append(decide(card, Activate(channel_id, sale, store), now))
        entries = [
            (r.number, bytes(r.salt), r.seq + 1, r.last_event_hash, d)
            for r, d in zip(rows, drafts, strict=True)
        ]
        logged, event_rows = log_events(log, size, actor, now, entries)
        bulk_insert(conn, events, event_rows)
        conn.execute(
            update_card,
            [
                {
                    "for_number": r.number,
                    "at_seq": r.seq,
                    "state": d.state.value,
                    "blocked_from": None,
                    "seq": r.seq + 1,
                    "last_event_hash": last_hash,
                    "updated_at": now,
                    "balance": d.data["balance"],
                    "channel_id": channel_id,
                    "sale_price": d.data["price"],
                    "activated_at": now,
                }
                for r, d, (_, last_hash) in zip(rows, drafts, logged, strict=True)
            ],
        )
        return [
            {"card_number": r.number, "state": d.state.value, "leaf_index": leaf_index}
            for r, d, (leaf_index, _) in zip(rows, drafts, logged, strict=True)
        ]


_Selection = tuple[str, Any]


def _selection(
    numbers: Sequence[str] | None, batch_ref: str | None, first: str | None, last: str | None
) -> _Selection:
    """Which cards to activate: exactly one of numbers, a batch, or a range."""
    given = [numbers is not None, batch_ref is not None, first is not None or last is not None]
    if sum(given) != 1:
        raise errors.ValidationFailed("name the cards by numbers, by batch_ref, or first and last")
    if numbers is not None:
        if not 1 <= len(numbers) <= MAX_BATCH:
            raise errors.ValidationFailed(f"activate 1 to {MAX_BATCH} cards at once")
        # A number listed twice is sold once.
        return "numbers", list(dict.fromkeys(card_number(n) for n in numbers))
    if batch_ref is not None:
        return "batch", valid(check_text, batch_ref, "batch_ref")
    if first is None or last is None:
        raise errors.ValidationFailed("a range needs both first and last")
    # A range whose first number comes after its last holds no card (CARD_NOT_FOUND).
    return "range", (card_number(first), card_number(last))


def _cards_of(conn: Connection, chosen: _Selection) -> list[Row[Any]]:
    """The card rows selected; for a batch or range only those still INACTIVE."""
    how, which = chosen
    if how == "numbers":
        found = {}
        for chunk in chunks(which):
            for row in conn.execute(sa.select(cards).where(cards.c.number.in_(chunk))):
                found[row.number] = row
        missing = [n for n in which if n not in found]
        if missing:
            raise errors.CardNotFound("no card has this number")
        return [found[n] for n in which]
    inactive = cards.c.state == CardState.INACTIVE.value
    where = (
        (cards.c.batch_ref == which)
        if how == "batch"
        else cards.c.number.between(which[0], which[1])
    )
    rows = list(
        conn.execute(
            sa.select(cards).where(where, inactive).order_by(cards.c.number).limit(MAX_BATCH + 1)
        )
    )
    if not rows:
        raise errors.CardNotFound("no card in stock (inactive) matches")
    if len(rows) > MAX_BATCH:
        raise errors.ValidationFailed(f"more than {MAX_BATCH} cards match: activate in parts")
    return rows


def _selling_store(actor: Actor, store_id: str | None) -> str | None:
    """The store the sale happens at: a store token's own; headquarters' choice."""
    if actor.role == "store":
        if store_id is not None and store_id != actor.store_id:
            raise errors.StoreNotAllowed(f"this token acts only for store {actor.store_id}")
        return actor.store_id
    return None if store_id is None else str(valid(check_store_id, store_id))
