"""The card map: its versions (one per CARD_MAP leaf) and its versioned nodes.

See docs/card-map.md and anchoring/schema.py.

Revision ID: anchoring_log_0002
Revises: anchoring_log_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "anchoring_log_0002"
down_revision = "anchoring_log_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``card_map_versions`` and ``card_map_nodes``."""
    op.create_table(
        "card_map_versions",
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("cards", sa.BigInteger, nullable=False),
        sa.Column("changed", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "card_map_nodes",
        sa.Column("depth", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("path", sa.LargeBinary, primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Drop the card map's tables."""
    op.drop_table("card_map_nodes")
    op.drop_table("card_map_versions")
