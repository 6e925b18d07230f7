"""Money, kinds and stock: the product catalogue, card kinds and balances, value amounts
on events, store addresses and stock per store and product.

Cards issued before this revision become active pickup cards (``kind`` defaults to
``pickup``; their state is unchanged, so they stay usable), and their events keep their
exact logged bytes: every old bundle still verifies.

Revision ID: ledger_core_0004
Revises: ledger_core_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_core_0004"
down_revision = "ledger_core_0003"
branch_labels = None
depends_on = None

KIND_CHECK = "kind IN ('pickup', 'stored_value', 'count')"


def upgrade() -> None:
    """Create ``products`` and ``stock``; add the new columns of stores, cards and events."""
    op.create_table(
        "products",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("face_value", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(KIND_CHECK, name="products_kind"),
        sa.CheckConstraint("units >= 1", name="products_units"),
    )
    for column in (
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("city", sa.String(64), nullable=True),
        sa.Column("opening_hours", sa.String(200), nullable=True),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
    ):
        op.add_column("stores", column)
    # SQLite cannot add a foreign key or a check to a table in place: batch mode copies
    # the table once; PostgreSQL alters it.
    with op.batch_alter_table("cards") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="pickup"))
        batch.add_column(sa.Column("sku", sa.String(64), nullable=True))
        batch.add_column(sa.Column("balance", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("channel_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("sale_price", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("cards_sku_fkey", "products", ["sku"], ["sku"])
        batch.create_check_constraint("cards_kind", KIND_CHECK)
        batch.create_check_constraint(
            "cards_balance_not_negative", "balance IS NULL OR balance >= 0"
        )
    op.add_column("events", sa.Column("amount", sa.BigInteger, nullable=True))
    op.add_column("events", sa.Column("balance", sa.BigInteger, nullable=True))
    op.create_table(
        "stock",
        sa.Column("store_id", sa.String(64), sa.ForeignKey("stores.id"), primary_key=True),
        sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), primary_key=True),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("low_water", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="stock_reserved_in_range"),
        sa.CheckConstraint("low_water >= 0", name="stock_low_water"),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_table("stock")
    op.drop_column("events", "balance")
    op.drop_column("events", "amount")
    with op.batch_alter_table("cards") as batch:
        batch.drop_constraint("cards_balance_not_negative", type_="check")
        batch.drop_constraint("cards_kind", type_="check")
        batch.drop_constraint("cards_sku_fkey", type_="foreignkey")
        for name in ("activated_at", "sale_price", "channel_id", "balance", "sku", "kind"):
            batch.drop_column(name)
    for name in ("longitude", "latitude", "opening_hours", "city", "address"):
        op.drop_column("stores", name)
    op.drop_table("products")
