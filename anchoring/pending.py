"""Leaves a transaction has appended but not yet written to the log's tables.

A group of commands sharing one transaction (group commit) appends one leaf per command.
Writing each at once costs every command a read of the head, a read of the tree's right
edge and three writes, one after another while the group holds the log head. Holding
them here instead lets the group write all of its leaves in one batch just before its
commit (:meth:`anchoring.log.MerkleLog.deferring`): the same leaves, at the same indexes,
in the same transaction, so what commits is exactly what immediate appends would have
written.

Savepoints still undo: a savepoint rolled back takes back the leaves appended since it
began, as the database takes back the rows written since then. The held leaves follow the
connection's savepoint events, so a command refused or failed under its savepoint leaves
no leaf behind.

    >>> held = PendingLeaves(base=10)
    >>> held.add([b"a", b"b"])
    10
    >>> held.size, held.get(11), held.get(9)
    (12, b'b', None)
    >>> held.mark(); _ = held.add([b"c"]); held.undo()
    >>> held.size
    12
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

_KEY = "cardtrail.pending_leaves"
"""Where a connection keeps its held leaves (``Connection.info``), while they are held."""


class PendingLeaves:
    """Leaves appended from index ``base`` on, in order, not yet written."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.leaves: list[bytes] = []
        self._marks: list[int] = []  # savepoints nest: one mark per open savepoint

    @property
    def size(self) -> int:
        """The log's size as the transaction sees it: written leaves and held ones."""
        return self.base + len(self.leaves)

    def add(self, leaves: Sequence[bytes]) -> int:
        """Hold ``leaves`` after the others; returns the index of the first."""
        first = self.size
        self.leaves.extend(leaves)
        return first

    def get(self, index: int) -> bytes | None:
        """The input of held leaf ``index``; None when it is not held here."""
        offset = index - self.base
        return self.leaves[offset] if 0 <= offset < len(self.leaves) else None

    def mark(self) -> None:
        """A savepoint began: remember how many leaves were held."""
        self._marks.append(len(self.leaves))

    def undo(self) -> None:
        """The innermost savepoint was rolled back: drop the leaves added since it began."""
        del self.leaves[self._marks.pop() :]

    def keep(self) -> None:
        """The innermost savepoint was released: its leaves belong to the enclosing one."""
        self._marks.pop()


def pending_on(conn: Connection) -> PendingLeaves | None:
    """The leaves held on ``conn``'s transaction, or None when appends write at once."""
    held: PendingLeaves | None = conn.info.get(_KEY)
    return held


@contextmanager
def holding(conn: Connection, base: int) -> Iterator[PendingLeaves]:
    """Hold the appends made on ``conn`` from index ``base`` on, following its savepoints.

    The caller writes the held leaves before leaving (or lets an error roll the
    transaction back); leaving forgets them either way.
    """
    if pending_on(conn) is not None:
        raise RuntimeError("this transaction already holds its appends")
    held = PendingLeaves(base)

    # SQLAlchemy names a savepoint only after announcing it, and savepoints end in the
    # reverse order they began: a stack of marks follows them without names.
    def began(_conn: Connection, _name: str | None) -> None:
        held.mark()

    def rolled_back(_conn: Connection, _name: str, _context: Any) -> None:
        held.undo()

    def released(_conn: Connection, _name: str, _context: Any) -> None:
        held.keep()

    listeners: tuple[tuple[str, Callable[..., None]], ...] = (
        ("savepoint", began),
        ("rollback_savepoint", rolled_back),
        ("release_savepoint", released),
    )
    for name, listener in listeners:
        event.listen(conn, name, listener)
    conn.info[_KEY] = held
    try:
        yield held
    finally:
        conn.info.pop(_KEY, None)
        for name, listener in listeners:
            event.remove(conn, name, listener)
