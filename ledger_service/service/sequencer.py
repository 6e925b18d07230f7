"""Group commit: the commands of one process that arrive together share one commit.

Writers queue on the log head and each commit waits for its own fsync, so single
commands run one fsync at a time. A :class:`Sequencer` gathers the units of work that
arrive within ``window`` seconds of each other (at most ``limit`` of them) into ONE
database transaction, committed once:

* the first caller of a group (its *leader*) opens the transaction — taking the log head
  — and commits it; callers arriving meanwhile join the group;
* each caller's work runs in its own thread, in turn, under a SAVEPOINT of the shared
  transaction: an exception rolls back that caller's work only, and it raises at once;
* the group closes when it is full or when ``window`` has passed since its leader arrived
  (the group's transaction may open later: it waits for the previous commit), then the
  leader commits after every member has finished;
* every caller returns only after the commit succeeded: acknowledged still means durable.
  If the transaction cannot open, a savepoint cannot be rolled back, or the
  commit fails, nothing of the group is kept and every caller raises: the leader the
  error itself, the members :class:`GroupCommitFailed` caused by it.

Members take their turns on the one connection, so the log grows one command after the
other without gaps, exactly as with a transaction each.

    >>> import tempfile
    >>> from anchoring.db import create_engine, read_transaction, write_transaction
    >>> engine = create_engine(f"sqlite:///{tempfile.mkdtemp()}/doc.db")
    >>> with write_transaction(engine) as conn:
    ...     _ = conn.exec_driver_sql("create table t (x int)")
    >>> sequencer = Sequencer(lambda: write_transaction(engine), window=0.002)
    >>> with sequencer.unit() as conn:
    ...     _ = conn.exec_driver_sql("insert into t values (1)")
    >>> with read_transaction(engine) as conn:
    ...     conn.exec_driver_sql("select count(*) from t").scalar()
    1
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy.engine import Connection

GROUP_LIMIT = 64
"""Most units of work in one group: bounds how long a group holds the log head."""


class GroupCommitFailed(RuntimeError):
    """The shared transaction of a group failed: nothing of this caller's work was kept.

    Raised to every member of the group; its ``__cause__`` is the leader's error.
    """


class _Group:
    """One shared transaction and the callers in it; counts guarded by the sequencer's lock.

    Members wait on events of their own group and only the leader on ``changed``, so a
    member finishing wakes the leader alone, not every waiting thread.
    """

    def __init__(self, deadline: float, lock: threading.Lock) -> None:
        self.deadline = deadline
        self.joined = 1  # the leader
        self.finished = 0
        self.closed = False
        self.changed = threading.Condition(lock)  # joined or finished grew
        self.conn: Connection | None = None
        self.opened = threading.Event()  # conn is set, or the group settled without one
        self.turn = threading.Lock()  # one caller at a time on the connection
        self.doomed: BaseException | None = None  # a savepoint that could not be undone
        self.error: BaseException | None = None
        self.settled = threading.Event()


class Sequencer:
    """Runs concurrent units of work of one process in shared transactions.

    ``begin`` opens the write transaction a group shares (committed on leaving, rolled
    back on an error), ``window`` is how long (seconds) a group waits for company, and
    ``limit`` how many units it holds at most. Thread-safe; a unit of work cannot nest
    another in the same thread (it would wait for its own group).
    """

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        window: float,
        limit: int = GROUP_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 0 or limit < 1:
            raise ValueError("a group needs a window of 0 s or more and room for one unit")
        self._begin = begin
        self._window = window
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._forming: _Group | None = None
        self._inside = threading.local()

    @contextmanager
    def unit(self) -> Iterator[Connection]:
        """A unit of work: the connection of a shared transaction, under a savepoint of
        this caller's own. Leaving it waits for the group's commit."""
        if getattr(self._inside, "active", False):
            raise RuntimeError("a unit of work cannot open another in the same thread")
        self._inside.active = True
        try:
            group, leading = self._join()
            with self._lead(group) if leading else self._follow(group) as conn:
                yield conn
        finally:
            self._inside.active = False

    def _join(self) -> tuple[_Group, bool]:
        """The forming group with room for one more, or a new group this caller leads."""
        with self._lock:
            group = self._forming
            if group is not None and not group.closed and group.joined < self._limit:
                group.joined += 1
                group.changed.notify()  # a full group closes at once
                return group, False
            group = self._forming = _Group(self._clock() + self._window, self._lock)
            return group, True

    @contextmanager
    def _lead(self, group: _Group) -> Iterator[Connection]:
        """Open the group's transaction, run this caller's work first, close the group,
        wait for its members and commit; then tell every member how it ended."""
        own: BaseException | None = None
        try:
            with self._begin() as conn:
                group.conn = conn
                group.opened.set()
                try:
                    with self._own_turn(group, conn):
                        yield conn
                except BaseException as exc:  # noqa: BLE001 - raised once the group is settled
                    own = exc
                self._wait_for_members(group)
                if group.doomed is not None:
                    raise GroupCommitFailed("a savepoint could not be undone") from group.doomed
        except BaseException as exc:
            self._settle(group, exc)
            raise
        self._settle(group, None)
        if own is not None:
            raise own

    @contextmanager
    def _follow(self, group: _Group) -> Iterator[Connection]:
        """Wait for the group's transaction, run this caller's work in its turn, then wait
        for the group's commit."""
        group.opened.wait()
        conn = group.conn
        if conn is None:  # the transaction never opened
            raise GroupCommitFailed("the shared transaction could not begin") from group.error
        with self._own_turn(group, conn):
            yield conn
        group.settled.wait()
        if group.error is not None:
            raise GroupCommitFailed("the shared commit failed") from group.error

    @contextmanager
    def _own_turn(self, group: _Group, conn: Connection) -> Iterator[None]:
        """This caller's work on ``conn`` under a savepoint, one caller at a time; counted
        as finished however it ends.

        A savepoint that is not rolled back is left open, not released: the next caller's
        savepoint begins inside it, and rolling that one back undoes that caller's work
        only, as before. Releasing would only merge it into the transaction a moment
        before the commit does, at the price of a statement (a round trip on PostgreSQL)
        per caller."""
        try:
            with group.turn:
                savepoint = conn.begin_nested()
                try:
                    yield
                except BaseException:
                    self._undo(group, savepoint.rollback)
                    raise
        finally:
            with self._lock:
                group.finished += 1
                group.changed.notify()

    @staticmethod
    def _undo(group: _Group, end_savepoint: Callable[[], None]) -> None:
        """Roll back a savepoint; if that fails, the shared transaction may hold part of a
        command, so the whole group must roll back."""
        try:
            end_savepoint()
        except BaseException as exc:
            group.doomed = group.doomed or exc
            raise

    def _wait_for_members(self, group: _Group) -> None:
        """Keep the group open until it is full or its window has passed, then wait until
        every member has finished its work."""
        with self._lock:
            while not group.closed:
                remaining = group.deadline - self._clock()
                if group.joined >= self._limit or remaining <= 0:
                    group.closed = True
                else:
                    group.changed.wait(remaining)
            if self._forming is group:
                self._forming = None
            while group.finished < group.joined:
                group.changed.wait()

    def _settle(self, group: _Group, error: BaseException | None) -> None:
        """Tell the members how the group ended; no one can join it any more."""
        with self._lock:
            group.closed = True
            if self._forming is group:
                self._forming = None
        group.error = error
        group.settled.set()
        group.opened.set()  # members still waiting for a transaction that never opened
