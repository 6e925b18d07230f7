"""Events: a covering index for the dashboard's per-store, per-day counts of each type.

The console's 14-day aggregate groups events by type, day and store; with the store in
the index the database answers from the index alone (measured on 1M cards, 1.4M events,
SQLite: 2.2 s → 0.3–0.4 s for the per-store part).

Revision ID: ledger_core_0002
Revises: ledger_core_0001
"""

from __future__ import annotations

from alembic import op

revision = "ledger_core_0002"
down_revision = "ledger_core_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace (type, occurred_at) by (type, occurred_at, store_id)."""
    op.create_index("events_type_occurred_store", "events", ["type", "occurred_at", "store_id"])
    op.drop_index("events_type_occurred", table_name="events")


def downgrade() -> None:
    """Back to the (type, occurred_at) index."""
    op.create_index("events_type_occurred", "events", ["type", "occurred_at"])
    op.drop_index("events_type_occurred_store", table_name="events")
