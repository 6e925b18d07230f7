"""The tables that the ledger service owns (SQLAlchemy Core).

Migrations live in ``ledger_service/migrations`` (branch ``ledger``); a test keeps them
equal to this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# --- API tokens and idempotency records (branch ``ledger_auth``) ---

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    # The public half of a token ``ct_<id>_<secret>``; the secret is kept only as a keyed hash.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('hq', 'store', 'auditor')", name="api_tokens_role"),
    sa.CheckConstraint(
        "(role = 'store') = (store_id IS NOT NULL)", name="api_tokens_store_only_for_store"
    ),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    # NULL while the first request with this key is still being executed.
    sa.Column("status", sa.Integer, nullable=True),
    # The response body, encrypted (it can hold redemption codes): see ledger_service.idempotency.
    sa.Column("response", sa.LargeBinary, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("idempotency_keys_created_at", "created_at"),
)
