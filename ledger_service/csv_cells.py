"""CSV cells that a spreadsheet opens as text, never as a formula (CSV injection).

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula, and some also after a leading tab or carriage return; a row key or batch
reference typed by someone else could then call out or run commands on the machine of
whoever opens the file. Following OWASP's advice, such a cell gets a leading ``'``,
which spreadsheets read as "this is text". Every CSV that CardTrail writes for people
(the console's issued cards, the codes file of ``cardtrail import-cards``) goes through
:func:`safe_row`.

    >>> from ledger_service.csv_cells import safe_cell, safe_row
    >>> print(safe_cell('=HYPERLINK("http://evil.example","x")'))
    '=HYPERLINK("http://evil.example","x")
    >>> safe_row(["-2+3", "@SUM(A1)", "\\tcmd", "row-7", 42, None])
    ["'-2+3", "'@SUM(A1)", "'\\tcmd", 'row-7', '42', '']
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""


def safe_cell(value: object) -> str:
    """``value`` as CSV cell text, with a ``'`` in front when it would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_row(values: Iterable[object]) -> list[str]:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(value) for value in values]
