"""Card specs: what a new card may hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger_service.domain.cards import parse_card_spec


def test_a_full_spec_is_parsed_into_typed_values():
    spec = parse_card_spec(
        {
            "product": "  Moutai 500ml ",
            "face_value": 150000,
            "currency": "CNY",
            "allowed_stores": ["S2", "S1", "S1"],
            "allowed_regions": ["north"],
            "expires_at": "2027-01-31T23:59:59+08:00",
            "holder_ref": "cust-1",
            "row_key": "r1",
        }
    )
    assert spec.product == "Moutai 500ml"
    assert spec.allowed_stores == ("S1", "S2")
    assert spec.expires_at == datetime(2027, 1, 31, 15, 59, 59, tzinfo=UTC)


def test_expiry_is_kept_to_the_millisecond_like_the_events():
    spec = parse_card_spec({"product": "Tea", "expires_at": "2027-01-31T23:59:59.123456Z"})
    assert spec.expires_at.microsecond == 123000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "product"),
        ({"product": "Tea", "colour": "red"}, "unknown field 'colour'"),
        ({"product": "Tea", "face_value": 100}, "come together"),
        ({"product": "Tea", "currency": "CNY"}, "come together"),
        ({"product": "Tea", "face_value": -1, "currency": "CNY"}, "minor units"),
        ({"product": "Tea", "face_value": True, "currency": "CNY"}, "minor units"),
        ({"product": "Tea", "face_value": 2**53, "currency": "CNY"}, "minor units"),
        ({"product": "Tea", "face_value": 1, "currency": "yuan"}, "ISO 4217"),
        ({"product": "Tea", "allowed_stores": ["bad id"]}, "allowed_stores item"),
        ({"product": "Tea", "allowed_stores": "S1"}, "must be a list"),
        ({"product": "Tea", "expires_at": "2027-01-31"}, "UTC offset"),
        ({"product": "Tea", "expires_at": "tomorrow"}, "RFC 3339"),
        ({"product": "x" * 201}, "longer than 200"),
    ],
)
def test_bad_specs_name_the_field(raw, message):
    with pytest.raises((TypeError, ValueError), match=message):
        parse_card_spec(raw)
