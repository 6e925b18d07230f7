"""The data directory is the owner's alone: created 0700, loose leftovers tightened."""

from __future__ import annotations

import logging
import stat

import pytest

from anchoring.permissions import private_directory, tighten, without_group_and_other


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("mode", "tight"), [(0o755, 0o700), (0o644, 0o600), (0o777, 0o700), (0o600, 0o600)]
)
def test_group_and_other_bits_are_cleared_and_the_owners_kept(mode, tight):
    assert without_group_and_other(mode) == tight


def test_a_new_directory_is_created_0700_with_its_parents(tmp_path, usual_umask):
    data = private_directory(tmp_path / "deploy" / "data")
    assert data.is_dir() and _mode(data) == 0o700


def test_a_directory_left_0755_by_an_older_version_is_tightened_and_logged(
    tmp_path, usual_umask, caplog
):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING, logger="cardtrail.anchoring"):
        private_directory(data)
    assert _mode(data) == 0o700
    assert f"tightened the permissions of {data} from 0755 to 0700" in caplog.text


def test_a_private_directory_is_left_as_it_is_and_nothing_is_logged(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    with caplog.at_level(logging.WARNING, logger="cardtrail.anchoring"):
        private_directory(data)
    assert _mode(data) == 0o700 and caplog.text == ""


def test_a_file_in_the_way_of_the_directory_is_an_error(tmp_path):
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(FileExistsError):
        private_directory(tmp_path / "data")


def test_tighten_never_widens_and_ignores_missing_files(tmp_path):
    read_only = tmp_path / "ro"
    read_only.write_text("x")
    read_only.chmod(0o444)
    assert tighten(read_only) is True and _mode(read_only) == 0o400
    assert tighten(tmp_path / "missing") is False
