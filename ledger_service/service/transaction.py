"""The one way a ledger command runs in a transaction.

Every command — issuance, card commands, pickups, stores, expiry — writes through
:meth:`CommandRunner._run`:

* it joins the caller's :meth:`~CommandRunner.unit_of_work` (``within=``: the API keeps
  the request's idempotency record in it) or opens a unit of work of its own;
* its writes go under a savepoint, so a refusal (a :class:`~ledger_service.errors.
  LedgerError`) rolls back everything of the command — nothing of it reaches the log;
* the refusal's :class:`~ledger_service.service.traces.Trace` (wrong-code count,
  anomaly) is then written in the same unit of work, which commits it;
* a command that makes every check before its first write (``checks_first``, a redeem)
  has nothing to roll back when it refuses, so it runs without the savepoint — two
  statements fewer, each a round trip on PostgreSQL; its writes go under
  :func:`writing`, which turns a refusal that comes too late into a failure of the whole
  unit of work, so a refusal still never keeps a write;
* a unit of work of its own commits before the command returns or raises: acknowledged
  means durable. Any other exception rolls the whole unit of work back.

So an accepted command is exactly one commit holding its one event per card, and a
refusal is at most one commit holding only its traces.

With group commit on (``group_commit_ms`` > 0, CARDTRAIL_GROUP_COMMIT_MS), a unit of work
is a savepoint of a transaction that the units arriving together in this process share
(:mod:`.sequencer`): the transaction takes the log head first, each unit's work runs in
turn under its own savepoint (an exception rolls back that unit only), and the one commit
comes before any of them returns. A command's event and its idempotency record still
commit together, and nothing is acknowledged before its commit. The group's leaves are
held in memory and written in one batch before the commit: each command still gets the
next leaf index, and a command rolled back takes its leaf back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine, Row

from anchoring.db import write_transaction
from anchoring.log import MerkleLog
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain import lockout
from ledger_service.domain.lifecycle import EventDraft
from ledger_service.events import utc_now
from ledger_service.service.events_log import apply
from ledger_service.service.rows import card_or_404, lock_state, lock_values
from ledger_service.service.sequencer import Sequencer
from ledger_service.service.traces import CodeMatch, Trace, check_code

_HOLDER_CONTEXT = b"cardtrail/holder/v2\x00"
"""v2 tags are salted per card (v1, in older events, were not: a holder's cards linked)."""


class CommandRunner:
    """The database, clock and secret every area of the ledger shares, and the
    transaction runner its commands go through. Thread-safe: every call uses its own
    connection, or its own savepoint of a group's (``group_commit_ms``)."""

    def __init__(
        self,
        engine: Engine,
        secret_key: bytes,
        clock: Callable[[], datetime] = utc_now,
        *,
        require_signatures: bool = False,
        group_commit_ms: float = 0.0,
    ) -> None:
        if len(secret_key) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        self._engine = engine
        self._secret = secret_key
        self._clock = clock
        # CARDTRAIL_REQUIRE_STORE_SIGNATURES: store tokens must sign their commands.
        self._require_signatures = require_signatures
        # CARDTRAIL_GROUP_COMMIT_MS: 0 gives every unit of work its own transaction.
        self._sequencer = (
            Sequencer(self._head_transaction, group_commit_ms / 1000)
            if group_commit_ms > 0
            else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._engine.url.render_as_string(hide_password=True)!r})"

    def _now(self) -> datetime:
        # Events carry milliseconds; keeping more in the tables would make every stored
        # time differ from the logged one and the audit rightly flag it.
        moment = self._clock().astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _holder_tag(self, holder_ref: str, card_salt: bytes) -> str:
        # A keyed tag: the log can show that the holder changed without naming anyone.
        # The card's salt (16 bytes) makes it differ from card to card, so that the public
        # log never links two cards of one holder.
        message = _HOLDER_CONTEXT + card_salt + holder_ref.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    @contextmanager
    def unit_of_work(self) -> Iterator[Connection]:
        """One write transaction that a caller shares with commands (``within=``).

        The API keeps a request's idempotency record in it, so that the reservation, the
        command's writes, its refusal's traces and the stored answer commit together —
        once. With group commit it is a savepoint of a transaction shared with the units
        of work that arrive together, and leaving it waits for that transaction's commit.
        """
        if self._sequencer is None:
            with write_transaction(self._engine) as conn:
                yield conn
        else:
            with self._sequencer.unit() as conn:
                yield conn

    @contextmanager
    def _head_transaction(self) -> Iterator[Connection]:
        """A group's transaction, holding the log head from its start: a group then
        holds no lock while it waits for the previous one, so two groups never wait
        for each other. Its commands' leaves are written together before the commit
        (:meth:`~anchoring.log.MerkleLog.deferring`), not one command at a time."""
        with write_transaction(self._engine) as conn, MerkleLog(conn).deferring():
            yield conn

    @contextmanager
    def _run(
        self, within: Connection | None, trace: Trace | None = None, *, checks_first: bool = False
    ) -> Iterator[Connection]:
        """Run a command's writes: under a savepoint of ``within``, or of a unit of work
        of its own that commits on leaving — after a refusal too, with its ``trace``.

        ``checks_first``: the command refuses only before its first write, and makes its
        writes under :func:`writing`; it runs without a savepoint."""
        if within is not None:
            with _savepoint(within, trace, nested=not checks_first):
                yield within
            return
        refusal: errors.LedgerError | None = None
        with self.unit_of_work() as conn:
            try:
                with _savepoint(conn, trace, nested=not checks_first):
                    yield conn
            except errors.LedgerError as exc:
                refusal = exc  # raised once its traces are committed
        if refusal is not None:
            raise refusal

    @contextmanager
    def _command(
        self, number: str, within: Connection | None, trace: Trace | None = None
    ) -> Iterator[tuple[Connection, MerkleLog, int, Row[Any]]]:
        """:meth:`_run` a command on one card: the log head (which serialises writers),
        the log's size, and the card's row read under it."""
        with self._run(within, trace) as conn:
            log, size = head(conn)
            yield conn, log, size, card_or_404(conn, number)

    def _apply_with_code(
        self,
        conn: Connection,
        log: MerkleLog,
        size: int,
        row: Row[Any],
        code: object,
        draft: EventDraft,
        actor: Actor,
        now: datetime,
        *,
        matches: CodeMatch | None = None,
        **card_values: Any,
    ) -> int:
        """Log ``draft`` as the next event of the card ``row`` (:func:`~.events_log.apply`)
        once ``code``, shown for it, proves its holder; returns the event's leaf index.

        CODE_LOCKED while the card's code is locked, INVALID_CODE for a wrong code (the
        command's :class:`~.traces.Trace` counts it toward the lockout); an accepted code
        ends the card's run of wrong ones. ``matches``: whether a code is right, when it
        is not the card's own code that is asked for (a pickup's rotating code).
        """
        check_code(self._secret, row, code, now, matches)
        return apply(conn, log, size, row, draft, actor, now, **code_accepted(row), **card_values)


def code_accepted(row: Row[Any]) -> dict[str, Any]:
    """The card columns once a code of the card ``row`` was accepted: its run of wrong codes
    ends (the count of earlier locks stays, so the next lock still lasts longer)."""
    return lock_values(lockout.record_success(lock_state(row)))


def head(conn: Connection) -> tuple[MerkleLog, int]:
    """The log on ``conn`` with its head locked for this transaction, and its size."""
    log = MerkleLog(conn)
    return log, log.lock_head()


@contextmanager
def writing() -> Iterator[None]:
    """The writes of a ``checks_first`` command: a refusal here would keep the writes
    before it (there is no savepoint to roll back to), so it fails the whole unit of work
    instead — a bug, answered as a server error, with nothing of the command kept."""
    try:
        yield
    except errors.LedgerError as late:
        raise RuntimeError(f"a command refused ({late.code}) after its first write") from late


@contextmanager
def _savepoint(conn: Connection, trace: Trace | None, *, nested: bool) -> Iterator[None]:
    """Roll a refused command back to where it began (``nested``: under a savepoint of
    its own; without one, it wrote nothing yet), then write its trace."""
    try:
        if nested:
            with conn.begin_nested():
                yield
        else:
            yield
    except errors.LedgerError as refusal:
        if trace is None:
            raise
        error = trace.record(conn, refusal)
        if error is refusal:
            raise
        raise error from None
