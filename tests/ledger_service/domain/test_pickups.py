"""Pickup details: the rotating code (RFC 6238 vectors), serials, days and hashes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from ledger_service.domain import pickups

# RFC 6238 appendix B, SHA-1: the ASCII secret "12345678901234567890", 8 digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
]
NOW = datetime(2026, 11, 24, 6, 0, 10, tzinfo=UTC)


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_the_totp_engine_meets_the_rfc_6238_vectors(unix, expected):
    import pyotp

    at = datetime.fromtimestamp(unix, UTC)
    assert pyotp.TOTP(RFC_SECRET, digits=8, interval=30).at(at) == expected
    # The six digits a pickup shows are the low digits of the same value.
    assert pickups.rotating_code(RFC_SECRET, at) == expected[-6:]


def test_a_pickup_secret_is_fixed_per_pickup_and_server_secret():
    one = pickups.pickup_secret(bytes(32), "pk_1")
    assert one == pickups.pickup_secret(bytes(32), "pk_1")
    assert one != pickups.pickup_secret(bytes(32), "pk_2")
    assert one != pickups.pickup_secret(bytes([1] * 32), "pk_1")
    assert len(base64.b32decode(one)) == 20


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-60, False), (-30, True), (0, True), (30, True), (60, False)]
)
def test_a_code_is_accepted_one_step_either_side(offset, accepted):
    secret = pickups.pickup_secret(bytes(32), "pk_1")
    shown = pickups.rotating_code(secret, NOW + timedelta(seconds=offset))
    assert pickups.rotating_code_matches(secret, shown, NOW) is accepted


@pytest.mark.parametrize("code", [None, "", "12345", "1234567", "abcdef", 123456])
def test_malformed_codes_never_match(code):
    assert not pickups.rotating_code_matches(pickups.pickup_secret(bytes(32), "pk"), code, NOW)


def test_seconds_left_counts_down_to_the_next_step():
    assert pickups.seconds_left(NOW) == 20


@pytest.mark.parametrize(
    "serials",
    [
        ["abc"],
        ["MT 0001"],
        ["x" * 65],
        [1234],
        ["MT-0001", "mt-0001"],
        [f"MT-{i:04d}" for i in range(51)],
    ],
)
def test_bad_serials_are_refused(serials):
    with pytest.raises(ValueError):
        pickups.check_serials(serials)


def test_fifty_serials_pass():
    assert len(pickups.check_serials([f"MT-{i:04d}" for i in range(50)])) == 50


@pytest.mark.parametrize("day", ["2026-11-22", "2027-03-01", "2026-02-30", "24/11/2026", None])
def test_days_outside_the_window_or_malformed_are_refused(day):
    with pytest.raises(ValueError):
        pickups.check_day(day, NOW)


def test_today_and_ninety_days_ahead_are_days():
    assert pickups.check_day("2026-11-24", NOW) == "2026-11-24"
    assert pickups.check_day("2027-02-22", NOW) == "2027-02-22"


def test_the_hashes_are_salted():
    assert pickups.address_hash(bytes(16), "a") != pickups.address_hash(bytes([1] * 16), "a")
    assert pickups.address_hash(bytes(16), "a") != pickups.tracking_hash(bytes(16), "a")
