"""The pure rules of a pickup's details: its day, bottle serials, the salted hashes the log
keeps, and the rotating code a customer shows at the counter.

The rotating code is a TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits) from a
per-pickup secret derived from the server secret and the pickup id, so the service never
stores it and a store device that was given it when the pickup became ready checks the
code offline. A code is accepted one step either side of the time it is checked at.

    >>> from datetime import UTC, datetime
    >>> secret = pickup_secret(bytes(32), "pk_0123456789abcdef")
    >>> at = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    >>> rotating_code_matches(secret, rotating_code(secret, at), at)
    True
    >>> check_serials(["  MT-2026-0001 ", "mt-2026-0002"])
    ('MT-2026-0001', 'MT-2026-0002')
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import pyotp

STEP_SECONDS = 30
DIGITS = 6
WINDOW_STEPS = 1
"""Steps either side of the checking time that are still accepted (clock drift, slow
scanning)."""
MAX_SERIALS = 50
MAX_DAYS_AHEAD = 90
"""How far ahead a pickup day may be chosen."""
_SERIAL = re.compile(r"[0-9A-Z][0-9A-Z\-./]{3,63}")
_SECRET_CONTEXT = b"cardtrail/pickup-code/v1\x00"
_ADDRESS_CONTEXT = b"cardtrail/address/v1\x00"
_TRACKING_CONTEXT = b"cardtrail/tracking/v1\x00"


def pickup_secret(secret_key: bytes, pickup_id: str) -> str:
    """The pickup's TOTP secret (base32, 160 bits, as authenticator apps take it)."""
    raw = hmac.digest(secret_key, _SECRET_CONTEXT + pickup_id.encode("ascii"), hashlib.sha1)
    return base64.b32encode(raw).decode("ascii")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def rotating_code(secret: str, at: datetime) -> str:
    """The code the pickup page shows at ``at``."""
    return _totp(secret).at(at)


def seconds_left(at: datetime) -> int:
    """Seconds until the code shown at ``at`` changes."""
    return STEP_SECONDS - int(at.timestamp()) % STEP_SECONDS


def rotating_code_matches(secret: str, code: object, at: datetime) -> bool:
    """Whether ``code`` is the pickup's code at ``at``, give or take one step (constant time)."""
    if not isinstance(code, str):
        return False
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return False
    return bool(_totp(secret).verify(code, for_time=at, valid_window=WINDOW_STEPS))


def check_serials(serials: Iterable[object]) -> tuple[str, ...]:
    """Bottle serials (瓶码 / 物流码) as scanned: upper case, trimmed, 4 to 64 of
    ``0-9 A-Z - . /``, at most :data:`MAX_SERIALS`, no repeats; ValueError otherwise."""
    out: list[str] = []
    for item in serials:
        if not isinstance(item, str):
            raise ValueError("a serial is a string")
        serial = item.strip().upper()
        if not _SERIAL.fullmatch(serial):
            raise ValueError(f"{serial[:70]!r} is not a serial: 4 to 64 of 0-9 A-Z - . /")
        if serial in out:
            raise ValueError(f"serial {serial} is listed twice")
        out.append(serial)
    if len(out) > MAX_SERIALS:
        raise ValueError(f"at most {MAX_SERIALS} serials")
    return tuple(out)


def check_day(text: object, now: datetime) -> str:
    """A pickup day ``YYYY-MM-DD`` from today (UTC, a day's grace for zones ahead of it)
    to :data:`MAX_DAYS_AHEAD` ahead; ValueError otherwise."""
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError("day must be YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a date") from None
    today = now.date()
    if day < today - timedelta(days=1) or day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise ValueError(f"day must be from today to {MAX_DAYS_AHEAD} days ahead")
    return text


def address_hash(salt: bytes, address: str) -> str:
    """The logged commitment to a delivery address: SHA-256 over a context, a random
    16-byte salt kept beside the sealed address, and the text; nobody can confirm a
    guessed address from the log, and the customer shown salt and text can check it."""
    return hashlib.sha256(_ADDRESS_CONTEXT + salt + address.encode("utf-8")).hexdigest()


def tracking_hash(salt: bytes, tracking_number: str) -> str:
    """The logged commitment to a shipment's tracking number (as :func:`address_hash`)."""
    return hashlib.sha256(_TRACKING_CONTEXT + salt + tracking_number.encode("utf-8")).hexdigest()
