"""The verifiable log: its head, its leaves and the hashes of its complete subtrees.

Revision ID: anchoring_log_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Alembic refuses a branch label equal to a revision id, hence the suffix.
revision = "anchoring_log_0001"
down_revision = None
branch_labels = ("anchoring_log",)
depends_on = None

# Same as anchoring.schema: on SQLite the leaf index is the rowid.
_leaf_index = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``log_head``, ``log_leaves`` and ``log_nodes``."""
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="log_head_single_row"),
        sa.CheckConstraint("tree_size >= 0", name="log_head_size_not_negative"),
    )
    op.create_table(
        "log_leaves",
        sa.Column("leaf_index", _leaf_index, primary_key=True, autoincrement=False),
        sa.Column("leaf_input", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("node_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Drop the log's tables."""
    op.drop_table("log_nodes")
    op.drop_table("log_leaves")
    op.drop_table("log_head")
