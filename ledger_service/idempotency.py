"""Idempotency keys: a retried POST gets the first answer instead of a second execution.

Every POST of the API carries an ``Idempotency-Key`` header. Records are kept per
(token, key) with a fingerprint of the request (method, path and the exact body bytes):

* first use: the key is reserved (a row with no status yet), the command runs, and its
  response — success or refusal — is stored;
* same key, same request: the stored status and body are returned (``Idempotent-Replayed:
  true``); while the first request still runs, the second one waits for its answer;
* same key, another request: ``IDEMPOTENCY_MISMATCH``.

The reservation is an insert on the primary key, so of two identical requests racing,
exactly one executes, on SQLite and PostgreSQL alike. A command that is one write
transaction (a redeem) runs through :meth:`IdempotencyStore.run_in`: reservation, command
and stored answer commit together, so a redeem costs one commit instead of three and a
failure anywhere leaves neither the command's writes nor the reservation. If the command
fails unexpectedly the reservation is released so that a retry can run it. A process
that dies between executing and storing leaves the key reserved: retries then get
``IDEMPOTENCY_IN_PROGRESS`` rather than a second execution (at most once beats twice for
a ledger).

Stored responses can hold redemption codes (issuance, transfer), so they are encrypted
(AES-256-GCM) under a key derived from the server secret *and the caller's token*: neither
a copy of the database nor the database plus the server secret reveals them. Request
bodies hold codes too (redeem, transfer, pickups), so the stored request fingerprint is an
HMAC under a key derived from the server secret: a copy of the database alone cannot be
used to test guessed codes against it.

Records written before the fingerprint was keyed hold a plain SHA-256. A retry of such a
request after the upgrade gets ``IDEMPOTENCY_MISMATCH`` (nothing runs twice; the client
uses a new key), and the old records go with ``cardtrail token purge-keys``.

    >>> from ledger_service.idempotency import fingerprint
    >>> len(fingerprint(b"k" * 32, "POST", "/api/v1/stores", b"{}"))
    64
    >>> fingerprint(b"k" * 32, "POST", "/", b"{}") == fingerprint(b"j" * 32, "POST", "/", b"{}")
    False
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from Crypto.Cipher import AES
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from anchoring.db import is_postgres, read_transaction, write_transaction
from ledger_service.errors import IdempotencyInProgress, IdempotencyMismatch, ValidationFailed
from ledger_service.schema import idempotency_keys

HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(KEY_PATTERN)
_NONCE = 12
_TAG = 16
_FINGERPRINT_CONTEXT = b"cardtrail-idempotency-request"


def check_key(value: str | None) -> str:
    """The idempotency key of a request, or :class:`ValidationFailed` (missing, malformed)."""
    if value is None:
        raise ValidationFailed(
            f"every POST needs an {HEADER} header",
            errors=[{"loc": f"header.{HEADER}", "message": "required"}],
        )
    if not _KEY.fullmatch(value):
        raise ValidationFailed(
            f"{HEADER} must be 1 to 255 visible ASCII characters",
            errors=[{"loc": f"header.{HEADER}", "message": "1 to 255 visible ASCII characters"}],
        )
    return value


def fingerprint(secret_key: bytes, method: str, path: str, body: bytes) -> str:
    """What must be equal for a replay: method, path and the exact body bytes, as hex
    HMAC-SHA256 under a key derived from the server secret (the body can hold codes)."""
    key = hmac.new(secret_key, _FINGERPRINT_CONTEXT, hashlib.sha256).digest()
    digest = hmac.new(key, digestmod=hashlib.sha256)
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class Outcome:
    """A response as sent: status and JSON body bytes; ``replayed`` when it was stored."""

    status: int
    body: bytes
    replayed: bool = False


class IdempotencyStore:
    """Reserve, complete and replay idempotency records on one database."""

    def __init__(
        self,
        engine: Engine,
        secret_key: bytes,
        wait: float = 30.0,
        poll: float = 0.02,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self._secret_key = secret_key
        self.wait = wait
        self.poll = poll
        self._clock = clock

    def fingerprint(self, method: str, path: str, body: bytes) -> str:
        """The request fingerprint that :meth:`run` and :meth:`run_in` store and compare."""
        return fingerprint(self._secret_key, method, path, body)

    def run(
        self,
        token_id: str,
        token: str,
        key: str,
        request_hash: str,
        execute: Callable[[], tuple[int, bytes]],
    ) -> Outcome:
        """Execute ``execute`` once per (token, key), or return the stored outcome.

        ``execute`` returns (status, body) for every answer that should be replayed,
        refusals included; an exception from it releases the key and propagates. The
        reservation, the command and the stored answer are three transactions: use
        :meth:`run_in` when the command can share one.
        """
        deadline = time.monotonic() + self.wait
        while True:
            with write_transaction(self.engine) as conn:
                reserved = self._reserve(conn, token_id, key, request_hash)
            if reserved:
                break
            replay = self._stored(token_id, token, key, request_hash, deadline)
            if replay is not None:
                return replay
        try:
            status, body = execute()
        except BaseException:
            self._release(token_id, key)
            raise
        with write_transaction(self.engine) as conn:
            self._complete(conn, token, token_id, key, status, body)
        return Outcome(status, body)

    def run_in(
        self,
        token_id: str,
        token: str,
        key: str,
        request_hash: str,
        transaction: Callable[[], AbstractContextManager[Connection]],
        execute: Callable[[Connection], tuple[int, bytes]],
    ) -> Outcome:
        """Like :meth:`run`, but the reservation, ``execute`` and the stored answer share
        one write transaction opened by ``transaction``: one commit per request.

        ``execute`` does its writes on the connection it is given and returns (status,
        body) — a refusal's too, once its own writes (if any) are on that connection.
        An exception from it rolls the whole transaction back, reservation included, so
        a retry runs the command afresh. A second identical request waits on the first
        one's uncommitted reservation (PostgreSQL's unique index, SQLite's write lock)
        and then replays the committed answer.
        """
        deadline = time.monotonic() + self.wait
        while True:
            with transaction() as conn:
                if self._reserve(conn, token_id, key, request_hash):
                    status, body = execute(conn)
                    self._complete(conn, token, token_id, key, status, body)
                    return Outcome(status, body)
            replay = self._stored(token_id, token, key, request_hash, deadline)
            if replay is not None:
                return replay

    def _stored(
        self, token_id: str, token: str, key: str, request_hash: str, deadline: float
    ) -> Outcome | None:
        """The stored answer of a taken key; None when the key is free again to reserve."""
        while True:
            with read_transaction(self.engine) as conn:
                row = conn.execute(_select_record, {"for_token": token_id, "for_key": key}).first()
            if row is None:
                return None  # the first request failed and released the key: take it
            if row.request_hash != request_hash:
                raise IdempotencyMismatch(
                    f"this {HEADER} was used for another request; use a new key for a new request"
                )
            if row.status is not None:
                body = self._open(token, token_id, key, row.status, row.response)
                return Outcome(row.status, body, replayed=True)
            if time.monotonic() > deadline:
                raise IdempotencyInProgress(
                    "the first request with this key has not finished; retry later"
                )
            time.sleep(self.poll)

    def _complete(
        self, conn: Connection, token: str, token_id: str, key: str, status: int, body: bytes
    ) -> None:
        conn.execute(
            _complete_record,
            {
                "for_token": token_id,
                "for_key": key,
                "new_status": status,
                "new_response": self._seal(token, token_id, key, status, body),
            },
        )

    def purge(self, older_than: timedelta) -> int:
        """Forget completed records older than ``older_than``; returns how many.

        A retry after that gets a fresh execution, so keep records longer than any
        client retries (``cardtrail token purge-keys``, default 7 days).
        """
        cutoff = self._clock() - older_than
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                idempotency_keys.delete().where(
                    idempotency_keys.c.created_at < cutoff, idempotency_keys.c.status.is_not(None)
                )
            )
        return result.rowcount

    def _reserve(self, conn: Connection, token_id: str, key: str, request_hash: str) -> bool:
        statement = _reserve_postgres if is_postgres(conn) else _reserve_sqlite
        values = {"token_id": token_id, "key": key, "request_hash": request_hash}
        inserted = conn.execute(statement, {**values, "created_at": self._clock()}).first()
        return inserted is not None

    def _release(self, token_id: str, key: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                idempotency_keys.delete().where(
                    idempotency_keys.c.token_id == token_id,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.status.is_(None),
                )
            )

    def _cipher_key(self, token: str, key: str) -> bytes:
        material = b"cardtrail-idempotency\0" + token.encode() + b"\0" + key.encode()
        return hmac.new(self._secret_key, material, hashlib.sha256).digest()

    @staticmethod
    def _aad(token_id: str, key: str, status: int) -> bytes:
        return f"{token_id}\0{key}\0{status}".encode()

    def _seal(self, token: str, token_id: str, key: str, status: int, body: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        cipher = AES.new(self._cipher_key(token, key), AES.MODE_GCM, nonce=nonce)
        cipher.update(self._aad(token_id, key, status))
        ciphertext, tag = cipher.encrypt_and_digest(body)
        return nonce + tag + ciphertext

    def _open(self, token: str, token_id: str, key: str, status: int, sealed: bytes) -> bytes:
        nonce, tag, ciphertext = (
            sealed[:_NONCE],
            sealed[_NONCE : _NONCE + _TAG],
            sealed[_NONCE + _TAG :],
        )
        cipher = AES.new(self._cipher_key(token, key), AES.MODE_GCM, nonce=nonce)
        cipher.update(self._aad(token_id, key, status))
        try:
            return cipher.decrypt_and_verify(ciphertext, tag)
        except ValueError:
            # Only a changed server secret or an edited row gets here.
            raise IdempotencyMismatch(
                f"the stored answer for this {HEADER} cannot be read; use a new key"
            ) from None


_select_record = sa.select(
    idempotency_keys.c.request_hash, idempotency_keys.c.status, idempotency_keys.c.response
).where(
    idempotency_keys.c.token_id == sa.bindparam("for_token"),
    idempotency_keys.c.key == sa.bindparam("for_key"),
)
_complete_record = (
    idempotency_keys.update()
    .where(
        idempotency_keys.c.token_id == sa.bindparam("for_token"),
        idempotency_keys.c.key == sa.bindparam("for_key"),
    )
    .values(status=sa.bindparam("new_status"), response=sa.bindparam("new_response"))
)


_reserve_postgres = (
    postgresql.insert(idempotency_keys)
    .on_conflict_do_nothing()
    .returning(idempotency_keys.c.token_id)
)
_reserve_sqlite = (
    sqlite.insert(idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.token_id)
)
