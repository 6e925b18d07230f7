"""Events: timestamps, commitments, and leaf inputs byte-identical to RFC 8785."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.events import (
    GENESIS,
    MAX_SAFE_INTEGER,
    build_event,
    card_commitment,
    event_hash,
    format_timestamp,
    leaf_input,
)

WHEN = datetime(2026, 11, 24, 6, 17, 10, 123999, tzinfo=UTC)


def event(**changes):
    base = {
        "leaf_index": 7,
        "card": card_commitment(bytes(16), "23456789ABCDEFGH8"),
        "seq": 0,
        "type": "ISSUED",
        "occurred_at": WHEN,
        "recorded_at": WHEN,
        "actor": {"role": "hq", "id": "tok_1"},
        "store_id": None,
        "data": {"product": "Tea"},
        "prev_event_hash": GENESIS,
        "nonce": "ab" * 16,
    }
    return build_event(**{**base, **changes})


def test_the_event_has_exactly_the_agreed_keys():
    assert set(event()) == {
        "leaf_index", "card", "seq", "type", "occurred_at", "recorded_at", "actor",
        "store_id", "data", "prev_event_hash", "nonce",
    }  # fmt: skip


def test_timestamps_are_utc_milliseconds_with_z():
    assert format_timestamp(WHEN) == "2026-11-24T06:17:10.123Z"
    east = WHEN.astimezone(timezone(timedelta(hours=8)))
    assert format_timestamp(east) == "2026-11-24T06:17:10.123Z"
    with pytest.raises(ValueError, match="timezone"):
        format_timestamp(WHEN.replace(tzinfo=None))


def test_the_card_commitment_is_sha256_of_salt_and_number():
    salt = bytes.fromhex("00112233445566778899aabbccddeeff")
    expected = hashlib.sha256(salt + b"23456789ABCDEFGH8").hexdigest()
    assert card_commitment(salt, "23456789ABCDEFGH8") == expected


def test_event_hash_is_sha256_of_the_leaf_input():
    leaf = leaf_input(event())
    assert event_hash(leaf) == hashlib.sha256(leaf).hexdigest()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.text(st.characters(max_codepoint=127)), json_values, max_size=5),
       store=st.none() | st.text(st.characters(exclude_categories=["Cs"])))  # fmt: skip
def test_leaf_input_is_byte_identical_to_rfc8785(data, store):
    built = event(data=data, store_id=store)
    assert leaf_input(built) == rfc8785.dumps(built)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"price": 1.5}, "float"),
        ({"big": MAX_SAFE_INTEGER + 1}, "exceeds safe integer"),
        ({"when": WHEN}, "datetime"),
    ],
)
def test_values_outside_the_canonical_domain_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        leaf_input(event(data=data))


def test_non_ascii_keys_are_ordered_as_rfc8785_orders_them():
    built = event(data={"préférence": 1, "\ufb33": 2, "\U0001f600": 3})
    assert leaf_input(built) == rfc8785.dumps(built)
