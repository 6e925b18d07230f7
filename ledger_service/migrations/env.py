"""Alembic environment: runs on the engine handed over by ``ledger_service.db``."""

from __future__ import annotations

from alembic import context

from anchoring.schema import metadata as anchoring_metadata
from ledger_service.schema import metadata as ledger_metadata

target_metadata = [anchoring_metadata, ledger_metadata]


def run_migrations_online() -> None:
    """Apply the migrations in one transaction on the configured engine."""
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("CardTrail migrations run online only: use `cardtrail up` or db.upgrade()")
run_migrations_online()
