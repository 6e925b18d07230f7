"""Settings: the data directory and the server secret are the owner's alone."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator

import pytest

from ledger_service.config import Settings


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """umask 022, the usual default, under which a plain mkdir gives 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_is_created_0700(tmp_path, usual_umask):
    settings = Settings.from_env(tmp_path / "data", environ={})
    assert settings.prepare_data_dir() == tmp_path / "data"
    assert _mode(tmp_path / "data") == 0o700


def test_a_data_directory_left_0755_by_an_older_version_is_tightened_with_a_log_line(
    tmp_path, usual_umask, caplog
):
    (tmp_path / "data").mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING, logger="cardtrail.anchoring"):
        Settings.from_env(tmp_path / "data", environ={}).prepare_data_dir()
    assert _mode(tmp_path / "data") == 0o700
    assert "from 0755 to 0700" in caplog.text


def test_the_generated_secret_key_is_0600(tmp_path, usual_umask):
    settings = Settings.from_env(tmp_path / "data", environ={})
    settings.prepare_data_dir()
    assert len(settings.secret_key()) == 32
    assert _mode(tmp_path / "data" / "secret.key") == 0o600
