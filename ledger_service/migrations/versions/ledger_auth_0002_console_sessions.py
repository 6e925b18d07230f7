"""Console sessions kept on the server, so that signing out ends them everywhere.

Before this, the console's signed cookie alone was the session: a copy taken before
sign-out kept working until its 12 hours were up. Sessions signed in before the upgrade
carry no session id and are sent back to the sign-in page.

Revision ID: ledger_auth_0002
Revises: ledger_auth_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_auth_0002"
down_revision = "ledger_auth_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``console_sessions``."""
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(32), sa.ForeignKey("api_tokens.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("console_sessions_expires_at", "console_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop ``console_sessions`` (everyone signed in must sign in again)."""
    op.drop_index("console_sessions_expires_at", table_name="console_sessions")
    op.drop_table("console_sessions")
