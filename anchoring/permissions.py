"""Owner-only files and directories: the data directory 0700, what it holds 0600.

CardTrail's data directory holds the database, the server secret and the development
keystore. Older versions created it with the process umask (usually 0755, files 0644);
:func:`private_directory` and :func:`tighten` take group and other permissions away from
such leftovers and say so in the log.

    >>> import pathlib, stat, tempfile
    >>> from anchoring.permissions import private_directory, without_group_and_other
    >>> folder = private_directory(pathlib.Path(tempfile.mkdtemp()) / "data")
    >>> oct(stat.S_IMODE(folder.stat().st_mode))
    '0o700'
    >>> oct(without_group_and_other(0o644))
    '0o600'
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_GROUP_AND_OTHER = 0o077

logger = logging.getLogger("cardtrail.anchoring")


def without_group_and_other(mode: int) -> int:
    """``mode`` with every group and other permission bit cleared (the owner's kept)."""
    return mode & ~_GROUP_AND_OTHER


def tighten(path: Path) -> bool:
    """Clear group and other permissions of ``path`` if it exists and has any; log it.

    Returns True when the mode changed. A mode that cannot be changed (another owner) is
    logged, not raised: the process can still run, and the operator learns what to fix.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if not mode & _GROUP_AND_OTHER:
        return False
    tight = without_group_and_other(mode)
    try:
        path.chmod(tight)
    except OSError as exc:
        logger.warning(
            "%s is readable by other users (mode %04o) and cannot be tightened: %s",
            path,
            mode,
            exc.strerror,
        )
        return False
    logger.warning(
        "tightened the permissions of %s from %04o to %04o (created by an older CardTrail, "
        "readable by other users)",
        path,
        mode,
        tight,
    )
    return True


def private_directory(path: Path) -> Path:
    """Create the directory ``path`` with mode 0700, or tighten it if it exists; return it.

    Only for directories that belong to CardTrail (the data directory): an existing one is
    changed. Missing parents are created with the usual mode, since they are the operator's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # mkdir's mode is filtered through the umask, which can only remove more bits.
        path.mkdir(mode=PRIVATE_DIRECTORY_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        tighten(path)
    return path
