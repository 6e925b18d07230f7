"""The store client runs at a shop: the server's packages never import it, only the CLI
assembly does (to offer ``cardtrail store-client``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = ("anchoring", "ledger_service", "portal", "cardtrail")
CLI_ASSEMBLY = {Path("cardtrail/cli.py"), Path("ledger_service/cli.py")}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_cli_assembly_imports_the_store_client():
    importers = {
        path.relative_to(ROOT)
        for package in SERVER_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if any(m.split(".")[0] == "store_client" for m in _imported_modules(path))
    }
    assert importers, "the CLI assembly offers the store-client command"
    assert importers <= CLI_ASSEMBLY, importers - CLI_ASSEMBLY
