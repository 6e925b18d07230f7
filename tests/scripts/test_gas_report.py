"""The gas report's shortcut trees are real RFC 9162 trees, and the report runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from anchoring import merkle

ROOT = Path(__file__).resolve().parents[2]


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: dataclasses look their module up in sys.modules.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gas_report = _load_script("gas_report")
LEAF = merkle.hash_leaf(b"same")


def test_uniform_tree_roots_equal_roots_of_explicit_trees():
    tree = gas_report.UniformTree(LEAF)
    for size in range(70):
        assert tree.root(size) == merkle.root([LEAF] * size), size


@pytest.mark.parametrize(("size1", "size2"), [(1, 2), (3, 7), (6, 8), (5, 37), (51, 100)])
def test_uniform_tree_consistency_proofs_equal_explicit_proofs(size1, size2):
    tree = gas_report.UniformTree(LEAF)
    assert tree.consistency_proof(size1, size2) == merkle.consistency_proof([LEAF] * size2, size1)


def test_report_prints_one_row_per_tree_size(capsys):
    assert gas_report.main(["--sizes", "10", "1000"]) == 0
    header, columns, *rows = capsys.readouterr().out.splitlines()
    assert "anchor()" in header and "gas used" in columns
    assert [int(row.split()[0].replace(",", "")) for row in rows] == [10, 1000]
