"""Pickups by the customer's own hand: the chosen day, the state a cancel returns to, the
sealed delivery address, the shipment, the handover's credential and bottle serials; and
gift share links.

Pickups requested before this revision have none of these (all NULL): a cancel returns
such a card to CLAIMED, the only state a pickup could be requested from then.

Revision ID: ledger_core_0007_pickups
Revises: ledger_core_0005_money
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_core_0007_pickups"
down_revision = "ledger_core_0005_money"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the pickup columns and the ``gift_offers`` table."""
    for column in (
        sa.Column("day", sa.String(10), nullable=True),
        sa.Column("from_state", sa.String(24), nullable=True),
        sa.Column("address_sealed", sa.LargeBinary, nullable=True),
        sa.Column("address_salt", sa.LargeBinary(16), nullable=True),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.Column("tracking_salt", sa.LargeBinary(16), nullable=True),
        sa.Column("credential", sa.String(16), nullable=True),
        sa.Column("serials", sa.Text, nullable=True),
    ):
        op.add_column("pickups", column)
    op.create_table(
        "gift_offers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("from_state", sa.String(24), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('open', 'accepted', 'returned')", name="gift_offers_state"),
    )
    op.create_index("gift_offers_card", "gift_offers", ["card_number"])
    op.create_index("gift_offers_state_expires", "gift_offers", ["state", "expires_at"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("gift_offers_state_expires", table_name="gift_offers")
    op.drop_index("gift_offers_card", table_name="gift_offers")
    op.drop_table("gift_offers")
    with op.batch_alter_table("pickups") as batch:
        for name in (
            "serials",
            "credential",
            "tracking_salt",
            "tracking_number",
            "carrier",
            "address_salt",
            "address_sealed",
            "from_state",
            "day",
        ):
            batch.drop_column(name)
