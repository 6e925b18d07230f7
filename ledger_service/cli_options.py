"""What every ``cardtrail`` command shares: ``--data-dir``, the settings, a migrated database.

Kept apart from :mod:`cardtrail.cli` (the group) so that command modules can use
these without importing the group that imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from anchoring.db import create_engine
from ledger_service import db
from ledger_service.config import ConfigError, Settings

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CARDTRAIL_DATA_DIR",
    default=None,
    help="Where the SQLite database, local chain state and dev keystore live "
    "[env CARDTRAIL_DATA_DIR; default ./.cardtrail].",
)


def load_settings(data_dir: Path | None) -> Settings:
    """Settings for a command, with configuration errors turned into a clean CLI error."""
    try:
        return Settings.from_env(data_dir)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@contextmanager
def migrated_engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the deployment's database at the newest schema, disposed afterwards.

    The data directory is created first (0700): the default SQLite database lives in it.
    """
    settings.prepare_data_dir()
    engine = create_engine(settings.database_url)
    try:
        db.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
