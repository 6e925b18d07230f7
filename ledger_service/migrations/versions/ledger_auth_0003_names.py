"""Staff display names on API tokens, for the console ("SH01 · 张三").

Events keep recording the token id only; the name stays in this table.

Revision ID: ledger_auth_0003_names
Revises: ledger_auth_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_auth_0003_names"
down_revision = "ledger_auth_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``api_tokens.name``."""
    op.add_column("api_tokens", sa.Column("name", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop ``api_tokens.name``."""
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("name")
