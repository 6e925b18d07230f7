"""The audit's workers do not re-run the script the command was started as."""

from __future__ import annotations

import sys
import types
from multiprocessing import spawn

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
