"""Alembic environment: runs on the engine handed over by ``ledger_service.db``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from anchoring.schema import metadata as anchoring_metadata
from ledger_service.schema import metadata as ledger_metadata

target_metadata = [anchoring_metadata, ledger_metadata]


def _foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's connection: SQLAlchemy's would begin a transaction first.
    driver = connection.connection.driver_connection
    assert driver is not None, "a connection in use always has its driver connection"
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run_migrations_online() -> None:
    """Apply the migrations in one transaction on the configured engine."""
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode copies a table and drops the old one, which fails while other
            # tables refer to it (cards, ledger_core_0004). SQLite takes this pragma only
            # outside a transaction; the keys are checked once the migrations are done.
            _foreign_keys(connection, on=False)
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migrations broke foreign keys: {broken[:5]}")
        connection.commit()
        if sqlite:
            _foreign_keys(connection, on=True)


if context.is_offline_mode():
    raise SystemExit("CardTrail migrations run online only: use `cardtrail up` or db.upgrade()")
run_migrations_online()
