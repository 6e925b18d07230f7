"""Event reasons: the free text of block, unblock and void reasons, out of the public log.

Events recorded from this revision on carry ``reason_code`` and ``reason_hash`` in the
log; the text and the salt of its hash are kept here. Older events keep their logged
``reason`` text (the log never changes) and have no row.

Revision ID: ledger_core_0003
Revises: ledger_core_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_core_0003"
down_revision = "ledger_core_0002"
branch_labels = None
depends_on = None

# Same type as anchoring.schema.LeafIndex: SQLite keeps an INTEGER primary key as the rowid.
LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``event_reasons``."""
    op.create_table(
        "event_reasons",
        sa.Column(
            "leaf_index",
            LEAF_INDEX,
            sa.ForeignKey("events.leaf_index"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
    )


def downgrade() -> None:
    """Drop ``event_reasons`` (the texts of newer reasons are lost)."""
    op.drop_table("event_reasons")
