"""Log events: the exact JSON object of each event and its canonical leaf input.

The leaf input is the RFC 8785 (JCS) serialisation of the event, so anyone — the auditor's
verifier, a browser — recomputes the same bytes from the parsed object. Events hold only
ints, strings, bools, null, lists and objects: no floats, whose canonical form differs
between implementations in practice (:mod:`anchoring.canonical`).

    >>> from datetime import UTC, datetime
    >>> from ledger_service.events import build_event, card_commitment, leaf_input
    >>> event = build_event(
    ...     leaf_index=0, card=card_commitment(bytes(16), "23456789ABCDEFGH8"), seq=0,
    ...     type="ISSUED", occurred_at=datetime(2026, 11, 24, 6, 17, 10, 123456, tzinfo=UTC),
    ...     recorded_at=datetime(2026, 11, 24, 6, 17, 10, 123456, tzinfo=UTC),
    ...     actor={"role": "hq", "id": "tok_1"}, store_id=None, data={}, prev_event_hash=GENESIS,
    ...     nonce="00" * 16)
    >>> event["occurred_at"]
    '2026-11-24T06:17:10.123Z'
    >>> leaf_input(event)[:24]
    b'{"actor":{"id":"tok_1","'
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias, get_args

from anchoring import canonical

MAX_SAFE_INTEGER = canonical.MAX_SAFE_INTEGER
GENESIS = "0" * 64
"""``prev_event_hash`` of a card's first event."""

EVENT_KEYS = frozenset(
    {
        "leaf_index",
        "card",
        "seq",
        "type",
        "occurred_at",
        "recorded_at",
        "actor",
        "store_id",
        "data",
        "prev_event_hash",
        "nonce",
    }
)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4096)
def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``: ``2026-11-24T06:17:10.123Z``."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def card_commitment(card_salt: bytes, card_number: str) -> str:
    """The event's ``card``: SHA-256(card_salt || normalised card number), hex."""
    return hashlib.sha256(card_salt + card_number.encode("ascii")).hexdigest()


def new_nonces(count: int) -> list[str]:
    """``count`` nonces of 16 random bytes, hex, drawn at once: published event hashes
    cannot be reversed by guessing."""
    drawn = secrets.token_hex(16 * count)
    return [drawn[start : start + 32] for start in range(0, 32 * count, 32)]


def build_event(
    *,
    leaf_index: int,
    card: str,
    seq: int,
    type: str,
    occurred_at: datetime,
    recorded_at: datetime,
    actor: Mapping[str, str],
    store_id: str | None,
    data: Mapping[str, Any],
    prev_event_hash: str,
    nonce: str,
) -> dict[str, Any]:
    """The event object whose canonical JSON becomes leaf ``leaf_index`` of the log."""
    return {
        "leaf_index": leaf_index,
        "card": card,
        "seq": seq,
        "type": str(type),
        "occurred_at": format_timestamp(occurred_at),
        "recorded_at": format_timestamp(recorded_at),
        "actor": {"role": actor["role"], "id": actor["id"]},
        "store_id": store_id,
        "data": dict(data),
        "prev_event_hash": prev_event_hash,
        "nonce": nonce,
    }


def leaf_input(event: Mapping[str, Any]) -> bytes:
    """The event's leaf input: its RFC 8785 canonical JSON, UTF-8.

    :func:`anchoring.canonical.dumps`: the bytes of the ``rfc8785`` package at the speed
    of ``json``, which bulk issuance and the audit need. Floats, integers beyond
    ±(2^53 − 1) and values that are not JSON are refused (a ``ValueError``).
    """
    return canonical.dumps(event)


ReasonCode: TypeAlias = Literal[
    "unspecified",
    "lost",
    "stolen",
    "fraud",
    "damaged",
    "customer_request",
    "issuer_error",
    "other",
]
"""A reason code block, unblock and void events carry (the text stays in the database)."""
REASON_CODES: tuple[str, ...] = get_args(ReasonCode)

_REASON_CONTEXT = b"cardtrail/reason/v1\x00"


def reason_hash(salt: bytes, text: str) -> str:
    """The ``reason_hash`` of an event: SHA-256("cardtrail/reason/v1" 0x00 || salt || text).

    The salt (16 random bytes, kept in the database beside the text) makes the hash a
    commitment: nobody can confirm a guessed text from the public log, and whoever is
    later shown the text and salt (in a dispute) can check them against the log.

        >>> reason_hash(bytes(16), "reported stolen")[:16]
        '1f0d371529316503'
    """
    return hashlib.sha256(_REASON_CONTEXT + salt + text.encode("utf-8")).hexdigest()


def event_hash(leaf: bytes) -> str:
    """SHA-256 of a leaf input, hex: the next event's ``prev_event_hash``."""
    return hashlib.sha256(leaf).hexdigest()
