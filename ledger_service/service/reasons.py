"""Reasons for block, unblock and void: a code and a salted hash in the log, the text in
the database (``event_reasons``), so that free text never enters the permanent public log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_service import errors
from ledger_service.events import REASON_CODES, reason_hash
from ledger_service.schema import event_reasons


@dataclass(frozen=True)
class Reason:
    """A reason as given: its code, its text (may be empty) and the salt of its hash."""

    code: str
    text: str
    salt: bytes

    @property
    def hash(self) -> str | None:
        """The ``reason_hash`` the event carries; None when no text was given."""
        return reason_hash(self.salt, self.text) if self.text else None


def new_reason(text: str, code: str) -> Reason:
    """A reason with a fresh salt; VALIDATION_FAILED for an unknown code."""
    if code not in REASON_CODES:
        raise errors.ValidationFailed(
            f"reason_code must be one of {', '.join(REASON_CODES)}, got {code[:40]!r}",
            errors=[{"loc": "body.reason_code", "message": "unknown reason code"}],
        )
    return Reason(code, text, secrets.token_bytes(16))


def store_reason(conn: Connection, leaf_index: int, reason: Reason) -> None:
    """Keep the reason's text and salt beside the event at ``leaf_index`` (if it has text)."""
    if reason.text:
        conn.execute(
            sa.insert(event_reasons).values(
                leaf_index=leaf_index, code=reason.code, text=reason.text, salt=reason.salt
            )
        )


def reason_of(conn: Connection, leaf_index: int) -> Reason | None:
    """The stored reason of the event at ``leaf_index``, or None if it had no text."""
    row = conn.execute(
        sa.select(event_reasons).where(event_reasons.c.leaf_index == leaf_index)
    ).first()
    return None if row is None else Reason(row.code, row.text, bytes(row.salt))
