"""Sales channels (distributors, online shops, stores) and their allocations.

Headquarters allocates cards of a product from the pool — the product's cards still in
stock (INACTIVE) that no channel holds yet — to a channel at that channel's price. A sale
through the channel (an activation naming it) counts the card sold with one conditional
update, ``sold = sold + n WHERE sold + n <= allocated``: whatever races, a channel never
sells more than it was allocated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.cards import store_id as check_id
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import CardState
from ledger_service.events import MAX_SAFE_INTEGER
from ledger_service.schema import cards, channel_allocations, channels
from ledger_service.service.checks import READERS, WRITERS, require_role, valid
from ledger_service.service.products import products_of
from ledger_service.service.rows import stamp, utc
from ledger_service.service.transaction import CommandRunner, head

CHANNEL_KINDS = ("distributor", "online", "store")

_sell = (
    sa.update(channel_allocations)
    .where(
        channel_allocations.c.channel_id == sa.bindparam("for_channel"),
        channel_allocations.c.sku == sa.bindparam("for_sku"),
        channel_allocations.c.sold + sa.bindparam("count") <= channel_allocations.c.allocated,
    )
    .values(
        sold=channel_allocations.c.sold + sa.bindparam("count"),
        updated_at=sa.bindparam("now"),
    )
)


def channel_or_404(conn: Connection, channel_id: str) -> Any:
    """The channel's row, or CHANNEL_NOT_FOUND."""
    row = conn.execute(sa.select(channels).where(channels.c.id == channel_id)).first()
    if row is None:
        raise errors.ChannelNotFound(f"no channel {channel_id[:64]!r}")
    return row


def sell_from(
    conn: Connection, channel_id: str, sold: Mapping[str, int], now: Any
) -> dict[str, int]:
    """Count ``sold`` cards (per SKU) against the channel's allocations; returns each
    SKU's price. ALLOCATION_EXHAUSTED if any allocation has too few left (nothing is
    counted then: the caller's savepoint rolls back)."""
    prices = {}
    for sku, count in sorted(sold.items()):
        done = conn.execute(
            _sell, {"for_channel": channel_id, "for_sku": sku, "count": count, "now": now}
        )
        if done.rowcount != 1:
            raise errors.AllocationExhausted(
                f"channel {channel_id} has fewer than {count} card(s) of {sku} left to sell"
            )
        prices[sku] = conn.execute(
            sa.select(channel_allocations.c.price).where(
                channel_allocations.c.channel_id == channel_id,
                channel_allocations.c.sku == sku,
            )
        ).scalar_one()
    return prices


def _unallocated(conn: Connection, sku: str) -> int:
    """Cards of ``sku`` in stock that no channel holds: INACTIVE less unsold allocations."""
    in_stock = conn.execute(
        sa.select(sa.func.count())
        .select_from(cards)
        .where(cards.c.sku == sku, cards.c.state == CardState.INACTIVE.value)
    ).scalar_one()
    held = conn.execute(
        sa.select(
            sa.func.coalesce(
                sa.func.sum(channel_allocations.c.allocated - channel_allocations.c.sold), 0
            )
        ).where(channel_allocations.c.sku == sku)
    ).scalar_one()
    return int(in_stock) - int(held)


def _allocation_json(row: Any) -> dict[str, Any]:
    return {
        "sku": row.sku,
        "allocated": row.allocated,
        "sold": row.sold,
        "left": row.allocated - row.sold,
        "price": row.price,
        "updated_at": stamp(utc(row.updated_at)),
    }


class ChannelCommands(CommandRunner):
    """Creating channels, allocating them cards and listing what they hold."""

    def create_channel(
        self,
        actor: Actor,
        channel_id: str,
        name: str,
        kind: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Add a sales channel (headquarters only); CHANNEL_EXISTS for a repeated id."""
        require_role(actor, WRITERS)
        if kind not in CHANNEL_KINDS:
            raise errors.ValidationFailed(f"kind must be one of {', '.join(CHANNEL_KINDS)}")
        row = {
            "id": valid(check_id, channel_id, "channel_id"),
            "name": valid(check_text, name, "name"),
            "kind": kind,
            "created_at": self._now(),
        }
        exists = errors.ChannelExists(f"channel {row['id']} already exists")
        try:
            with self._run(within) as conn:
                if conn.execute(sa.select(channels.c.id).where(channels.c.id == row["id"])).first():
                    raise exists
                conn.execute(sa.insert(channels), row)
        except sa.exc.IntegrityError:
            raise exists from None
        return {"channel_id": row["id"], "name": row["name"], "kind": kind, "allocations": []}

    def allocate(
        self,
        actor: Actor,
        channel_id: str,
        sku: str,
        count: int,
        price: int,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Give the channel ``count`` more cards of ``sku`` from the pool, to sell at
        ``price`` (minor units; it replaces the channel's earlier price for the SKU).

        ALLOCATION_EXHAUSTED when the pool (cards in stock no channel holds) has fewer.
        """
        require_role(actor, WRITERS)
        for name, number in (("count", count), ("price", price)):
            if isinstance(number, bool) or not isinstance(number, int):
                raise errors.ValidationFailed(f"{name} must be a whole number")
        if not 1 <= count <= 10_000_000 or not 0 <= price <= MAX_SAFE_INTEGER:
            raise errors.ValidationFailed("count must be 1 to 10000000 and price >= 0")
        channel_id = valid(check_id, channel_id, "channel_id")
        sku = valid(check_id, sku, "sku")
        now = self._now()
        with self._run(within) as conn:
            # The head lock orders allocations with the sales (activations) they count.
            head(conn)
            channel_or_404(conn, channel_id)
            products_of(conn, [sku])
            left = _unallocated(conn, sku)
            if count > left:
                raise errors.AllocationExhausted(
                    f"the pool holds {left} unallocated card(s) of {sku}, {count} were asked for"
                )
            key = (channel_allocations.c.channel_id == channel_id) & (
                channel_allocations.c.sku == sku
            )
            current = conn.execute(sa.select(channel_allocations).where(key)).first()
            if current is None:
                conn.execute(
                    sa.insert(channel_allocations).values(
                        channel_id=channel_id,
                        sku=sku,
                        allocated=count,
                        sold=0,
                        price=price,
                        updated_at=now,
                    )
                )
            else:
                conn.execute(
                    sa.update(channel_allocations)
                    .where(key)
                    .values(
                        allocated=channel_allocations.c.allocated + count,
                        price=price,
                        updated_at=now,
                    )
                )
            row = conn.execute(sa.select(channel_allocations).where(key)).one()
        return {"channel_id": channel_id, **_allocation_json(row)}

    def list_channels(self, actor: Actor) -> list[dict[str, Any]]:
        """Every channel, by id, with its allocations (allocated, sold, left, price)."""
        require_role(actor, READERS)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(channels).order_by(channels.c.id)).all()
            allocations = conn.execute(
                sa.select(channel_allocations).order_by(
                    channel_allocations.c.channel_id, channel_allocations.c.sku
                )
            ).all()
        return [
            {
                "channel_id": row.id,
                "name": row.name,
                "kind": row.kind,
                "allocations": [_allocation_json(a) for a in allocations if a.channel_id == row.id],
            }
            for row in rows
        ]
