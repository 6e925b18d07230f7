"""Stores, cards, their events, pickups, code failures and anomalies.

Revision ID: ledger_core_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_core_0001"
down_revision = None
branch_labels = ("ledger_core",)
depends_on = None

# Same type as anchoring.schema.LeafIndex: SQLite keeps an INTEGER primary key as the rowid.
LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the ledger core tables and their indexes."""
    op.create_table(
        "stores",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cards",
        sa.Column("number", sa.String(17), primary_key=True),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("blocked_from", sa.String(24), nullable=True),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("face_value", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("allowed_stores", sa.Text, nullable=False),
        sa.Column("allowed_regions", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder_ref", sa.String(200), nullable=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("last_event_hash", sa.String(64), nullable=False),
        sa.Column("batch_ref", sa.String(200), nullable=False),
        sa.Column("import_key", sa.String(401), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code_failures", sa.Integer, nullable=False),
        sa.Column("code_locks", sa.Integer, nullable=False),
        sa.Column("code_locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("import_key", name="cards_import_key"),
    )
    op.create_index("cards_state", "cards", ["state"])
    op.create_index("cards_expires_at", "cards", ["expires_at"])
    op.create_index("cards_batch_ref", "cards", ["batch_ref"])
    op.create_table(
        "events",
        sa.Column("leaf_index", LEAF_INDEX, primary_key=True, autoincrement=False),
        sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store_id", sa.String(64), sa.ForeignKey("stores.id"), nullable=True),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("card_number", "seq", name="events_card_seq"),
    )
    op.create_index("events_store_occurred", "events", ["store_id", "occurred_at"])
    op.create_index("events_type_occurred", "events", ["type", "occurred_at"])
    op.create_table(
        "pickups",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("store_id", sa.String(64), sa.ForeignKey("stores.id"), nullable=True),
        sa.Column("address_ref", sa.String(200), nullable=True),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('store', 'delivery')", name="pickups_mode"),
    )
    op.create_index("pickups_card", "pickups", ["card_number"])
    op.create_index("pickups_store_state", "pickups", ["store_id", "state"])
    op.create_table(
        "code_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("store_id", sa.String(64), nullable=True),
    )
    op.create_index("code_failures_card_at", "code_failures", ["card_number", "at"])
    op.create_index("code_failures_at", "code_failures", ["at"])
    op.create_table(
        "anomalies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("card_number", sa.String(17), nullable=True),
        sa.Column("store_id", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
    )
    op.create_index("anomalies_at", "anomalies", ["at"])
    op.create_index("anomalies_kind_at", "anomalies", ["kind", "at"])


def downgrade() -> None:
    """Drop the ledger core tables."""
    for table in ("anomalies", "code_failures", "pickups", "events", "cards", "stores"):
        op.drop_table(table)
