"""What every command shares: a migrated database in a private data directory."""

from __future__ import annotations

import stat

from ledger_service.cli_options import migrated_engine
from ledger_service.config import Settings


def test_a_command_creates_the_data_directory_0700_and_the_database_0600(tmp_path, usual_umask):
    data = tmp_path / "data"
    with migrated_engine(Settings.from_env(data, environ={})):
        pass
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    database_files = sorted(p.name for p in data.iterdir() if p.name.startswith("cardtrail.db"))
    assert "cardtrail.db" in database_files
    assert {name: stat.S_IMODE((data / name).stat().st_mode) for name in database_files} == {
        name: 0o600 for name in database_files
    }
