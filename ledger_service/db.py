"""Bringing a database to the current schema with Alembic.

Two migration branches share one history table: ``anchoring`` (the log and its
checkpoints) and ``ledger`` (cards, events, stores, tokens); ``upgrade`` takes both heads.
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
