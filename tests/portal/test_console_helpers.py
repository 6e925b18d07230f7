"""The console's pure helpers: reading scanned card numbers and issuance CSVs."""

from __future__ import annotations

import csv
import io

import pytest

from ledger_service.domain.numbers import CardNumberError, format_card_number, generate_card_number
from ledger_service.errors import ValidationFailed
from portal.console import cards_from_csv, issued_csv, scanned_number

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


def test_csv_rows_become_card_dicts():
    text = (
        "\ufeffrow_key,product,face_value,currency,allowed_stores,allowed_regions,expires_at\r\n"
        "a1,岭泉 53° 500ml,128000,CNY,S1; S2,,2030-01-01T00:00:00Z\r\n"
        "a2,Gift box,,,,north|east,\r\n"
        ",,,,,,\r\n"
    )
    assert cards_from_csv(text) == [
        {
            "row_key": "a1",
            "product": "岭泉 53° 500ml",
            "face_value": 128000,
            "currency": "CNY",
            "allowed_stores": ["S1", "S2"],
            "expires_at": "2030-01-01T00:00:00Z",
        },
        {"row_key": "a2", "product": "Gift box", "allowed_regions": ["north", "east"]},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,price\nTea,1\n", "product column"),
        ("product,colour\nTea,red\n", "unknown column 'colour'"),
        ("product,face_value\nTea,12.50\n", "line 2: face_value"),
        ("product\nTea,extra\n", "line 2 has more cells"),
    ],
)
def test_malformed_csv_is_refused_with_the_reason(text, message):
    with pytest.raises(ValidationFailed, match=message):
        cards_from_csv(text)


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
