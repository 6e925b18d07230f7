"""The audit's workers: they do not re-run the script the command was started as, and one
that dies fails the audit."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import types
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver, spawn
from pathlib import Path

from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.log import MerkleLog
from anchoring.schema import metadata
from ledger_service import audit_pool


def test_workers_started_under_it_do_not_rerun_the_main_script(monkeypatch):
    script = types.ModuleType("__main__")
    script.__file__ = "/usr/bin/cardtrail"  # a console script: a path, no module spec
    script.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert spawn.get_preparation_data("w")["init_main_from_path"] == "/usr/bin/cardtrail"
    with audit_pool._main_not_rerun():
        assert "init_main_from_path" not in spawn.get_preparation_data("w")
    assert script.__file__ == "/usr/bin/cardtrail"


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended meanwhile
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def test_a_worker_that_dies_fails_the_audit_instead_of_hanging(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    metadata.create_all(engine)
    with write_transaction(engine) as conn:
        MerkleLog(conn).append([b"leaf %d" % k for k in range(64)])
    outcome: list[object] = []

    def consume() -> None:
        with (
            read_transaction(engine) as conn,
            audit_pool.chunk_reports(engine, conn, 64, 2, 8) as (reports, _),
        ):
            server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
            deadline = time.monotonic() + 20
            while not (workers := _children(server)) and time.monotonic() < deadline:
                time.sleep(0.001)  # the workers are being forked
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            try:
                outcome.append(list(reports))
            except BrokenProcessPool as exc:
                outcome.append(exc)

    auditor = threading.Thread(target=consume, daemon=True)
    auditor.start()
    auditor.join(60)
    assert not auditor.is_alive(), "the audit waited for a dead worker"
    assert len(outcome) == 1 and isinstance(outcome[0], BrokenProcessPool)
