"""Spreadsheet-safe CSV cells: nothing CardTrail writes opens as a formula."""

from __future__ import annotations

import csv
import doctest
import io

import pytest

from ledger_service import csv_cells
from ledger_service.csv_cells import safe_cell, safe_row


def test_the_module_examples_hold():
    result = doctest.testmod(csv_cells)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_starting_a_formula_gets_a_quote_in_front(start):
    assert safe_cell(f"{start}cmd|' /C calc'!A0") == f"'{start}cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    "value", ["r1", "2345-6789-ABCD-EFGH-8", "ABCD-EFGH-JKMN", "a=b", "x-1", "", "'quoted"]
)
def test_ordinary_cells_are_left_as_they_are(value):
    assert safe_cell(value) == value


def test_non_text_values_become_their_text():
    assert safe_row([17, None, -3]) == ["17", "", "'-3"]


def test_a_neutralised_row_reads_back_with_its_quote():
    out = io.StringIO()
    csv.writer(out).writerow(safe_row(['=HYPERLINK("http://evil.example","x")', "ok"]))
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [
        '\'=HYPERLINK("http://evil.example","x")',
        "ok",
    ]
