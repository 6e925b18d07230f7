"""Sales channels and their allocations: what each channel may sell of a product, at
which price, and how many it sold.

Revision ID: ledger_core_0005_money
Revises: ledger_core_0008_stores
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_core_0005_money"
down_revision = "ledger_core_0008_stores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``channels`` and ``channel_allocations``."""
    op.create_table(
        "channels",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('distributor', 'online', 'store')", name="channels_kind"),
    )
    op.create_table(
        "channel_allocations",
        sa.Column("channel_id", sa.String(64), sa.ForeignKey("channels.id"), primary_key=True),
        sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), primary_key=True),
        sa.Column("allocated", sa.Integer, nullable=False),
        sa.Column("sold", sa.Integer, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sold >= 0 AND sold <= allocated", name="channel_allocations_sold"),
        sa.CheckConstraint("price >= 0", name="channel_allocations_price"),
    )


def downgrade() -> None:
    """Drop the channels and their allocations."""
    op.drop_table("channel_allocations")
    op.drop_table("channels")
