"""import-linter's contracts (pyproject.toml) hold, and they would catch a back-import.

``make test`` runs ``lint-imports`` on the tree itself; these tests show that the
contracts are not vacuous: the same check on a copy of the tree with one import added
against the grain fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("anchoring", "ledger_service", "portal", "cardtrail", "store_client")
LAYERS = "anchoring <- ledger_service <- portal <- cardtrail"
ACYCLIC = "No import cycles among the modules of any package"
STORE_CLIENT = "Only the assembly imports the store client"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_of_the_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "back_import", "broken"),
    [
        ("anchoring/merkle.py", "import ledger_service.events", LAYERS),
        ("ledger_service/events.py", "import portal.public", LAYERS),
        ("portal/public.py", "import cardtrail.app", LAYERS),
        ("ledger_service/domain/numbers.py", "import ledger_service.api", ACYCLIC),
        ("ledger_service/api.py", "import store_client.queue", STORE_CLIENT),
    ],
)
def test_an_import_against_the_grain_breaks_a_contract(tmp_path, module, back_import, broken):
    tree = _copy_of_the_tree(tmp_path)
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{back_import}  # added by the test\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout, result.stdout
