"""``make gas-report`` prints one row of anchor() gas per tree size."""

from __future__ import annotations

import pytest

from scripts import gas_report


def test_report_prints_one_row_per_tree_size(capsys):
    assert gas_report.main(["--sizes", "10", "1000"]) == 0
    header, columns, *rows = capsys.readouterr().out.splitlines()
    assert "anchor()" in header and "gas used" in columns
    assert [int(row.split()[0].replace(",", "")) for row in rows] == [10, 1000]


def test_report_refuses_a_tree_of_one_leaf(capsys):
    with pytest.raises(SystemExit) as exit_:
        gas_report.main(["--sizes", "1", "10"])
    assert exit_.value.code == 2
    assert "at least 2" in capsys.readouterr().err
