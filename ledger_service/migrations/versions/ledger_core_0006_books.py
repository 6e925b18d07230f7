"""Administrative actions: an attributable record of each (who, when, what, which card).

Block, unblock and void are log events too; unlocking a redemption code is not, so this
table is its only record. Nothing existing changes.

Revision ID: ledger_core_0006_books
Revises: ledger_core_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_core_0006_books"
down_revision = "ledger_core_0004"
branch_labels = None
depends_on = None

# Same type as anchoring.schema.LeafIndex.
LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``admin_actions``."""
    op.create_table(
        "admin_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("card_number", sa.String(17), nullable=True),
        sa.Column("leaf_index", LEAF_INDEX, nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
    )
    op.create_index("admin_actions_at", "admin_actions", ["at"])
    op.create_index("admin_actions_card", "admin_actions", ["card_number"])


def downgrade() -> None:
    """Drop ``admin_actions`` (the record of administrative actions is lost)."""
    op.drop_table("admin_actions")
