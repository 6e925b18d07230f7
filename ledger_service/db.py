"""Bringing a database to the current schema with Alembic.

Each owner of tables has its own migration root (``anchoring_log``, ``anchoring_chain``,
``ledger_core``, ``ledger_auth``, ``ledger_devices``), all in one history table;
``upgrade`` takes every head, so the roots evolve independently.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that runs on ``engine`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Create or migrate every CardTrail table on ``engine`` to the newest revision."""
    command.upgrade(alembic_config(engine), "heads")
