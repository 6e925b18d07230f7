"""Bottle serials handed over with pickups, and the public card page's lookup counter.

``serials`` maps a serial to the PICKUP_COMPLETED event that carried it; ``card_checks``
and ``card_check_clients`` count looks at a card's public page, outside the log, keeping
only a keyed, daily-changing hash of each client.

Revision ID: ledger_core_0008_stores
Revises: ledger_core_0006_books
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_core_0008_stores"
down_revision = "ledger_core_0006_books"
branch_labels = None
depends_on = None

# Same type as anchoring.schema.LeafIndex: SQLite keeps an INTEGER primary key as the rowid.
LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``serials``, ``card_checks`` and ``card_check_clients``."""
    op.create_table(
        "serials",
        sa.Column("serial", sa.String(128), primary_key=True),
        sa.Column(
            "leaf_index",
            LEAF_INDEX,
            sa.ForeignKey("events.leaf_index"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
    )
    op.create_table(
        "card_checks",
        sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "card_check_clients",
        sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), primary_key=True),
        sa.Column("client", sa.String(32), primary_key=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("card_check_clients")
    op.drop_table("card_checks")
    op.drop_table("serials")
