"""Store device keys and the client ids of the signed commands they made.

Revision ID: ledger_devices_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_devices_0001"
down_revision = None
branch_labels = ("ledger_devices",)
depends_on = None

# Same type as anchoring.schema.LeafIndex.
LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``store_keys`` and ``device_commands``."""
    op.create_table(
        "store_keys",
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("store_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("store_keys_store", "store_keys", ["store_id"])
    op.create_table(
        "device_commands",
        sa.Column("signer", sa.String(42), primary_key=True),
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("store_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("card_number", sa.String(17), nullable=True),
        sa.Column("signature", sa.String(132), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("leaf_index", LEAF_INDEX, nullable=True),
        sa.Column("state", sa.String(24), nullable=True),
        sa.Column("code", sa.String(48), nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('accepted', 'refused')", name="device_commands_outcome"),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("device_commands")
    op.drop_index("store_keys_store", table_name="store_keys")
    op.drop_table("store_keys")
