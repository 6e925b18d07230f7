"""Deployments of the anchor contract, anchored checkpoints and anchoring transactions.

Revision ID: anchoring_chain_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "anchoring_chain_0001"
down_revision = None
branch_labels = ("anchoring_chain",)
depends_on = None


def upgrade() -> None:
    """Create ``deployments``, ``checkpoints`` and ``anchor_transactions``."""
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chain_id", sa.BigInteger, nullable=False),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("deployer", sa.String(42), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_reason", sa.String(200), nullable=True),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment_id", sa.Integer, sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("orphaned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("orphan_reason", sa.String(200), nullable=True),
        sa.CheckConstraint("status IN ('anchored', 'orphaned')", name="checkpoints_status"),
        sa.CheckConstraint("tree_size > 0", name="checkpoints_tree_size_positive"),
    )
    op.create_index(
        "checkpoints_one_anchored_per_size",
        "checkpoints",
        ["deployment_id", "tree_size"],
        unique=True,
        sqlite_where=sa.text("status = 'anchored'"),
        postgresql_where=sa.text("status = 'anchored'"),
    )
    op.create_table(
        "anchor_transactions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment_id", sa.Integer, sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False, unique=True),
        sa.Column("max_fee_per_gas", sa.BigInteger, nullable=True),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger, nullable=True),
        sa.Column("gas_price", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'mined', 'failed', 'replaced', 'dropped')",
            name="anchor_transactions_status",
        ),
    )
    op.create_index("anchor_transactions_by_status", "anchor_transactions", ["status"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("anchor_transactions_by_status", table_name="anchor_transactions")
    op.drop_table("anchor_transactions")
    op.drop_index("checkpoints_one_anchored_per_size", table_name="checkpoints")
    op.drop_table("checkpoints")
    op.drop_table("deployments")
