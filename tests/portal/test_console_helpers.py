"""The console's pure helpers: reading scanned card numbers, writing the issued-codes CSV."""

from __future__ import annotations

import csv
import io

import pytest

from ledger_service.domain.numbers import CardNumberError, format_card_number, generate_card_number
from portal.console import issued_csv, scanned_number

NUMBER = generate_card_number()


@pytest.mark.parametrize(
    "scanned",
    [
        NUMBER,
        NUMBER.lower(),
        format_card_number(NUMBER),
        format_card_number(NUMBER).replace("-", " "),
        " " + format_card_number(NUMBER).replace("-", "_") + "\t",
        f"http://127.0.0.1:8000/c/{NUMBER}",
        f"https://cards.example/c/{format_card_number(NUMBER)}?from=qr#top",
        NUMBER + "\n",
    ],
)
def test_scanned_number_tolerates_separators_and_card_urls(scanned):
    assert scanned_number(scanned) == NUMBER


def test_scanned_number_with_a_typo_is_refused():
    typo = NUMBER[:3] + NUMBER[4] + NUMBER[3] + NUMBER[5:]
    if typo == NUMBER:
        typo = NUMBER[:-1] + ("2" if NUMBER[-1] != "2" else "3")
    with pytest.raises(CardNumberError):
        scanned_number(typo)


def test_issued_csv_lists_number_code_and_leaf():
    result = {
        "cards": [
            {
                "card_number": NUMBER,
                "redemption_code": "7K3M-Q9ZD-X2HF",
                "leaf_index": 4,
                "row_key": "a1",
            }
        ]
    }
    [row] = list(csv.DictReader(io.StringIO(issued_csv(result))))
    assert row == {
        "card_number": NUMBER,
        "display_number": format_card_number(NUMBER),
        "redemption_code": "7K3M-Q9ZD-X2HF",
        "row_key": "a1",
        "leaf_index": "4",
    }
