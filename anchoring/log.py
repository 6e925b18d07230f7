"""The verifiable log stored in the database: an RFC 9162 Merkle tree.

The tree is kept as the hash of every complete subtree (:mod:`anchoring.schema`), so a
root at any past size, an inclusion proof and a consistency proof each need only the
O(log n) subtrees that :mod:`anchoring.merkle` names for it, fetched in one query.
Appending reads the tree's right edge once per batch and inserts about one node per leaf.

:class:`MerkleLog` works on the caller's connection, inside the caller's transaction:

    >>> from anchoring.db import create_engine, write_transaction, read_transaction
    >>> from anchoring.schema import metadata
    >>> engine = create_engine("sqlite:///:memory:")
    >>> metadata.create_all(engine)
    >>> with write_transaction(engine) as conn:
    ...     log = MerkleLog(conn)
    ...     size = log.lock_head()
    ...     log.append([b"issued", b"claimed", b"redeemed"])
    0
    >>> with read_transaction(engine) as conn:
    ...     log = MerkleLog(conn)
    ...     log.inclusion_proof(1, 3).verify(log.root(3))
    ...     log.consistency_proof(1, 3).verify(log.root(1), log.root(3))
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import ClauseElement

from anchoring import merkle, pending
from anchoring.errors import LogIntegrityError, TreeSizeError
from anchoring.schema import log_head, log_leaves, log_nodes
from anchoring.types import Checkpoint, ConsistencyProof, InclusionProof

T = TypeVar("T")

Node = tuple[int, int]
"""A complete subtree as ``(level, index)``; level 0 is a leaf."""

_HEAD_ID = 1
# Fewer rows than this go in by INSERT, more by COPY (PostgreSQL, see MerkleLog._insert).
_COPY_FROM = 16
# Bound on the parameters of one IN list: SQLite allows 32766 per statement.
_IN_CHUNK = 5_000

_select_size = sa.select(log_head.c.tree_size).where(log_head.c.id == _HEAD_ID)
_lock_size = _select_size.with_for_update()

_select_leaves = (
    sa.select(log_leaves.c.leaf_index, log_leaves.c.leaf_input, log_leaves.c.leaf_hash)
    .where(log_leaves.c.leaf_index >= sa.bindparam("lo"))
    .where(log_leaves.c.leaf_index < sa.bindparam("hi"))
    .order_by(log_leaves.c.leaf_index)
)

_select_nodes = (
    sa.select(log_nodes.c.node_index, log_nodes.c.hash)
    .where(log_nodes.c.level == sa.bindparam("level"))
    .where(log_nodes.c.node_index >= sa.bindparam("lo"))
    .where(log_nodes.c.node_index < sa.bindparam("hi"))
    .order_by(log_nodes.c.node_index)
)

_update_size = (
    sa.update(log_head).where(log_head.c.id == _HEAD_ID).values(tree_size=sa.bindparam("new_size"))
)

_insert_leaves = sa.insert(log_leaves)
_insert_nodes = sa.insert(log_nodes)

# The audit hashes millions of values: the bare constructor saves a call per hash.
_sha256 = hashlib.sha256
_LEAF = merkle.LEAF_HASH_PREFIX
_NODE = merkle.NODE_HASH_PREFIX

_select_leaf = sa.select(log_leaves.c.leaf_input).where(
    log_leaves.c.leaf_index == sa.bindparam("index")
)


@dataclass(frozen=True)
class LogDivergence:
    """The first stored leaf or node that does not match what its inputs recompute to.

    ``what`` is ``"leaf"`` (a leaf hash differs from the hash of the stored input),
    ``"node"`` (a subtree hash differs from the hash of its two stored children) or
    ``"missing"`` (the log's size requires a leaf or node that is not stored; ``stored``
    is then None). ``level`` 0 is a leaf, ``index`` counts within the level.
    """

    what: str
    level: int
    index: int
    stored: bytes | None
    recomputed: bytes | None


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TreeSizeError(f"{what} must be an integer, got {type(value).__name__}")
    return value


def _ranges_to_nodes(ranges: Iterable[merkle.Range]) -> list[list[Node]]:
    return [merkle.perfect_subtrees(start, end) for start, end in ranges]


_LEAF_STEP = 4
_NODE_STEP = 8


def _pad(keys: list[T], step: int) -> list[T]:
    short = -len(keys) % step
    return keys + keys[-1:] * short if keys else keys


def _sql(statement: ClauseElement, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    # What statement.compile() does, typed as the SQL compiler it is (it has positiontup).
    compiled = dialect.statement_compiler(dialect, statement)
    order = compiled.positiontup
    return compiled.string, None if order is None else tuple(order)


Binder = Callable[[list[Any]], Any]
"""Turns key values, in the order a query names them, into the driver's parameters."""


def _binder(names: list[str], order: tuple[str, ...] | None) -> Binder:
    if order is None:
        return lambda values: dict(zip(names, values, strict=True))
    if list(order) == names:
        return tuple
    positions = [names.index(name) for name in order]
    return lambda values: tuple(values[k] for k in positions)


@functools.lru_cache(maxsize=1024)
def _fetch_sql(dialect: Dialect, leaves: int, inner: int) -> tuple[str, Binder]:
    """The SQL that fetches ``leaves`` leaf hashes and ``inner`` node hashes in one query.

    Its binder takes the leaf indices, then each node's level and index, in that order.
    Nodes are matched as ``(level = ? AND node_index = ?) OR …``: SQLite turns that into
    one primary-key search per node, where a row-value ``IN`` would scan the table.
    Compiled once per shape, and run as text, because proofs are the hot path.
    """
    names = [f"i{n}" for n in range(leaves)]
    names += [name for n in range(inner) for name in (f"l{n}", f"n{n}")]
    queries = []
    if leaves:
        keys = [sa.bindparam(f"i{n}", type_=sa.Integer()) for n in range(leaves)]
        cols = log_leaves.c
        level = sa.literal_column("0", sa.Integer()).label("level")
        queries.append(
            sa.select(level, cols.leaf_index, cols.leaf_hash).where(cols.leaf_index.in_(keys))
        )
    if inner:
        cols = log_nodes.c
        match = [
            sa.and_(cols.level == sa.bindparam(f"l{n}"), cols.node_index == sa.bindparam(f"n{n}"))
            for n in range(inner)
        ]
        queries.append(sa.select(cols.level, cols.node_index, cols.hash).where(sa.or_(*match)))
    sql, order = _sql(queries[0] if len(queries) == 1 else sa.union_all(*queries), dialect)
    return sql, _binder(names, order)


@functools.lru_cache(maxsize=64)
def _compiled(dialect: Dialect, statement: ClauseElement) -> tuple[str, tuple[str, ...] | None]:
    """A module-level statement's SQL for ``dialect`` and, if positional, its parameter order.

    Bulk reads and inserts run this text on the driver: SQLAlchemy's per-row work on
    parameters and result rows took about half of an append's and an audit's time.
    """
    return _sql(statement, dialect)


class MerkleLog:
    """The log as stored on one connection; every method runs in the caller's transaction.

    Writers call :meth:`lock_head` first (inside ``anchoring.db.write_transaction``) so that
    leaf indices are handed out one writer at a time, without gaps or duplicates.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- the head ------------------------------------------------------------------

    def size(self) -> int:
        """The number of leaves in the log, as this transaction sees it (held appends
        included, see :meth:`deferring`)."""
        held = pending.pending_on(self._conn)
        if held is not None:
            return held.size
        size = self._conn.execute(_select_size).scalar()
        return 0 if size is None else int(size)

    def lock_head(self) -> int:
        """Take the writers' lock on the log head and return the log's size.

        On PostgreSQL this is ``SELECT … FOR UPDATE`` on the head row, held until the
        transaction ends; on SQLite the ``BEGIN IMMEDIATE`` of a write transaction already
        holds the database's only write lock. The head row is created on first use.
        While appends are held (:meth:`deferring`) the lock is already taken: the size
        includes the held leaves.
        """
        held = pending.pending_on(self._conn)
        if held is not None:
            return held.size
        size = self._conn.execute(_lock_size).scalar()
        if size is None:
            self._conn.execute(self._insert_head_if_absent())
            size = self._conn.execute(_lock_size).scalar_one()
        return int(size)

    def _insert_head_if_absent(self) -> sa.Insert:
        insert: postgresql.Insert | sqlite.Insert
        if self._conn.dialect.name == "postgresql":
            insert = postgresql.insert(log_head)
        else:
            insert = sqlite.insert(log_head)
        # Two first writers may race to create the row: the loser waits, then skips.
        return insert.values(id=_HEAD_ID, tree_size=0).on_conflict_do_nothing(
            index_elements=[log_head.c.id]
        )

    # --- writing -------------------------------------------------------------------

    def append(self, leaf_inputs: Sequence[bytes]) -> int:
        """Append leaves in order and return the index of the first one.

        Takes the head lock (see :meth:`lock_head`) if the caller has not already. Costs
        one read of the tree's right edge plus bulk inserts of the new leaves and the
        complete subtrees they finish: about one node per leaf. While appends are held
        (:meth:`deferring`), the leaves wait in memory for the batch written on leaving.
        """
        inputs = [self._leaf_bytes(i, value) for i, value in enumerate(leaf_inputs)]
        held = pending.pending_on(self._conn)
        if held is not None:
            return held.add(inputs)
        size = self.lock_head()
        if inputs:
            self._write(inputs, size)
        return size

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Take the head, hold this transaction's appends in memory, and write them all
        in one batch on leaving, still inside the transaction.

        The leaves get the indexes immediate appends would have given them, and a
        savepoint rolled back takes back its leaves (:mod:`anchoring.pending`). Proofs
        and roots cannot cover held leaves; :meth:`leaf_input` and :meth:`size` see them.
        Group commit holds a group's appends this way: one write of the tree's right edge
        per group instead of one per command.
        """
        base = self.lock_head()
        with pending.holding(self._conn, base) as held:
            yield
            leaves = list(held.leaves)
        if leaves:
            self._write(leaves, base)

    def _write(self, inputs: list[bytes], size: int) -> None:
        """Store ``inputs`` as leaves ``size`` on, their new subtrees and the new size."""
        edge = merkle.perfect_subtrees(0, size)
        known = self._fetch(edge, size)
        # The right edge as a stack of (level, hash), largest subtree at the bottom: each
        # new leaf merges with equal-sized subtrees on top, like carrying in binary.
        stack = [(level, known[(level, index)]) for level, index in edge]
        leaves: list[tuple[int, bytes, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        # Hashed inline (merkle.hash_leaf and hash_children, without a call per node):
        # a bulk issue appends ten thousand leaves at a time.
        for offset, data in enumerate(inputs):
            index = size + offset
            node = _sha256(_LEAF + data).digest()
            leaves.append((index, data, node))
            level = 0
            while stack and stack[-1][0] == level:
                node = _sha256(_NODE + stack.pop()[1] + node).digest()
                level += 1
                index >>= 1
                nodes.append((level, index, node))
            stack.append((level, node))
        self._insert(_insert_leaves, leaves)
        self._insert(_insert_nodes, nodes)
        self._conn.execute(_update_size, {"new_size": size + len(inputs)})

    def _insert(self, statement: sa.Insert, rows: Sequence[tuple[object, ...]]) -> None:
        """Run ``statement`` for rows given in its table's column order, as one executemany.

        On PostgreSQL a batch goes in by ``COPY``: an executemany there sends, binds and
        runs the statement once per row, most of a bulk issue's time in the log. A few
        rows go by INSERT: a COPY costs three round trips, however few its rows.
        """
        if not rows:
            return
        if self._conn.dialect.name == "postgresql" and len(rows) >= _COPY_FROM:
            self._copy(statement.table, rows)
            return
        sql, order = _compiled(self._conn.dialect, statement)
        names = [column.name for column in statement.table.columns]
        if order is not None and list(order) == names:
            self._conn.exec_driver_sql(sql, rows)
        else:
            bind = _binder(names, order)
            self._conn.exec_driver_sql(sql, [bind(list(row)) for row in rows])

    def _copy(self, table: sa.TableClause, rows: Sequence[tuple[object, ...]]) -> None:
        copy_rows(self._conn, table, [column.name for column in table.columns], rows)

    @staticmethod
    def _leaf_bytes(position: int, value: object) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"leaf input {position} must be bytes, got {type(value).__name__}")
        return bytes(value)

    # --- reading subtrees ----------------------------------------------------------

    def _fetch(self, wanted: Collection[Node], tree_size: int) -> dict[Node, bytes]:
        """Fetch the hashes of complete subtrees (level 0 = leaves) in one query.

        ``tree_size`` is the size the caller needs: when a subtree is missing because the
        log is smaller, that is the caller's error (TreeSizeError), otherwise the store is
        damaged (LogIntegrityError).
        """
        if not wanted:
            return {}
        leaves = sorted({index for level, index in wanted if level == 0})
        inner = sorted({(level, index) for level, index in wanted if level > 0})
        # Repeating the last key up to a multiple of a step keeps the number of distinct
        # statements small: each new one costs milliseconds to compile.
        padded_leaves = _pad(leaves, _LEAF_STEP)
        padded_inner = _pad(inner, _NODE_STEP)
        values = padded_leaves + [key for node in padded_inner for key in node]
        sql, bind = _fetch_sql(self._conn.dialect, len(padded_leaves), len(padded_inner))
        rows = self._conn.exec_driver_sql(sql, bind(values)).fetchall()
        found = {(level, index): bytes(value) for level, index, value in rows}
        if len(found) < len(leaves) + len(inner):
            self._missing(next(n for n in sorted(wanted) if n not in found), tree_size)
        return found

    def _missing(self, node: Node, tree_size: int) -> None:
        size = self.size()
        if tree_size > size:
            raise TreeSizeError(f"tree size {tree_size} is beyond the log's size {size}")
        level, index = node
        raise LogIntegrityError(
            f"the log of size {size} lacks its subtree at level {level}, index {index}"
        )

    def _check_size(self, tree_size: int | None) -> int:
        """The current size for None; otherwise ``tree_size`` once it is a valid size."""
        size = self.size()
        if tree_size is None:
            return size
        _whole(tree_size, "tree size")
        if not 0 <= tree_size <= size:
            raise TreeSizeError(f"tree size {tree_size} is not in [0, {size}] (the log's size)")
        return tree_size

    # --- roots and proofs ----------------------------------------------------------

    def root(self, tree_size: int | None = None) -> bytes:
        """The Merkle root at ``tree_size`` (default: now); any past size works."""
        size = self._check_size(tree_size)
        parts = merkle.perfect_subtrees(0, size)
        hashes = self._fetch(parts, size)
        return merkle.fold_subtrees([hashes[part] for part in parts])

    def checkpoint(self, tree_size: int | None = None) -> Checkpoint:
        """The tree head at ``tree_size`` (default: now)."""
        size = self._check_size(tree_size)
        return Checkpoint(size, self.root(size))

    def inclusion_proof(self, leaf_index: int, tree_size: int) -> InclusionProof:
        """Prove that leaf ``leaf_index`` is in the tree of ``tree_size`` leaves."""
        _whole(leaf_index, "leaf index")
        _whole(tree_size, "tree size")
        if not 0 <= leaf_index < tree_size:
            raise TreeSizeError(
                f"leaf index {leaf_index} is outside a tree of size {tree_size}: "
                f"want 0 <= leaf index < tree size"
            )
        groups = _ranges_to_nodes(merkle.inclusion_proof_ranges(leaf_index, tree_size))
        leaf = (0, leaf_index)
        hashes = self._fetch({leaf, *(n for group in groups for n in group)}, tree_size)
        proof = tuple(merkle.fold_subtrees([hashes[n] for n in group]) for group in groups)
        return InclusionProof(leaf_index, tree_size, hashes[leaf], proof)

    def inclusion_proofs(
        self, leaf_indices: Iterable[int], tree_size: int
    ) -> dict[int, InclusionProof]:
        """Prove several leaves in the tree of ``tree_size`` leaves with one query, by index.

        A card page proves all of a card's events at one size: fetching their subtrees
        together saves a round-trip per event.
        """
        _whole(tree_size, "tree size")
        plans: dict[int, list[list[Node]]] = {}
        wanted: set[Node] = set()
        for leaf_index in sorted(set(leaf_indices)):
            _whole(leaf_index, "leaf index")
            if not 0 <= leaf_index < tree_size:
                raise TreeSizeError(
                    f"leaf index {leaf_index} is outside a tree of size {tree_size}: "
                    f"want 0 <= leaf index < tree size"
                )
            groups = _ranges_to_nodes(merkle.inclusion_proof_ranges(leaf_index, tree_size))
            plans[leaf_index] = groups
            wanted.add((0, leaf_index))
            wanted.update(n for group in groups for n in group)
        hashes = self._fetch(wanted, tree_size)
        return {
            leaf_index: InclusionProof(
                leaf_index,
                tree_size,
                hashes[(0, leaf_index)],
                tuple(merkle.fold_subtrees([hashes[n] for n in group]) for group in groups),
            )
            for leaf_index, groups in plans.items()
        }

    def consistency_proof(self, size1: int, size2: int) -> ConsistencyProof:
        """Prove that the tree of ``size2`` leaves extends the tree of ``size1`` leaves."""
        _whole(size1, "first size")
        _whole(size2, "second size")
        if not 1 <= size1 <= size2:
            raise TreeSizeError(
                f"no consistency proof exists from size {size1} to size {size2}: "
                f"want 1 <= first size <= second size"
            )
        if size1 == size2:
            self._check_size(size2)
            return ConsistencyProof(size1, size2, ())
        groups = _ranges_to_nodes(merkle.consistency_proof_ranges(size1, size2))
        hashes = self._fetch({n for group in groups for n in group}, size2)
        proof = tuple(merkle.fold_subtrees([hashes[n] for n in group]) for group in groups)
        return ConsistencyProof(size1, size2, proof)

    # --- leaves --------------------------------------------------------------------

    def leaf_input(self, index: int) -> bytes:
        """The input bytes of leaf ``index``."""
        _whole(index, "leaf index")
        held = pending.pending_on(self._conn)
        value = held.get(index) if held is not None else None
        if value is None and index >= 0:
            value = self._conn.execute(_select_leaf, {"index": index}).scalar()
        if value is None:
            self._missing_leaf(index)
        return bytes(value)

    def leaf_inputs(self, indices: Iterable[int]) -> dict[int, bytes]:
        """The input bytes of several leaves, by index."""
        wanted = sorted({_whole(i, "leaf index") for i in indices})
        found: dict[int, bytes] = {}
        held = pending.pending_on(self._conn)
        if held is not None:
            found = {i: leaf for i in wanted if (leaf := held.get(i)) is not None}
            wanted = [i for i in wanted if i not in found]
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            query = sa.select(log_leaves.c.leaf_index, log_leaves.c.leaf_input).where(
                log_leaves.c.leaf_index.in_(chunk)
            )
            found.update((i, bytes(v)) for i, v in self._conn.execute(query))
        if any(i not in found for i in wanted):
            self._missing_leaf(next(i for i in wanted if i not in found))
        return found

    def _missing_leaf(self, index: int) -> NoReturn:
        size = self.size()
        if not 0 <= index < size:
            raise TreeSizeError(f"leaf index {index} is not in [0, {size}) (the log's size)")
        raise LogIntegrityError(f"the log of size {size} lacks leaf {index}")

    def iter_leaves(
        self, start: int = 0, end: int | None = None, batch: int = 10_000
    ) -> Iterator[tuple[int, bytes, bytes]]:
        """Yield ``(index, input, stored leaf hash)`` for leaves ``[start, end)`` in order.

        ``end`` defaults to the current size. Reads ``batch`` rows per query.
        """
        for rows in self._leaf_batches(start, end, batch):
            yield from rows

    def _leaf_batches(
        self, start: int, end: int | None, batch: int
    ) -> Iterator[list[tuple[int, bytes, bytes]]]:
        end = self._check_size(end)
        _whole(start, "start")
        if not 0 <= start <= end:
            raise TreeSizeError(f"start {start} is not in [0, {end}] (the end)")
        if _whole(batch, "batch") < 1:
            raise TreeSizeError(f"batch must be at least 1, got {batch}")
        cols = log_leaves.c
        query = (
            sa.select(cols.leaf_index, cols.leaf_input, cols.leaf_hash)
            .where(cols.leaf_index >= sa.bindparam("lo"), cols.leaf_index < end)
            .order_by(cols.leaf_index)
            .limit(batch)
        )
        while start < end:
            rows = [(i, bytes(d), bytes(h)) for i, d, h in self._conn.execute(query, {"lo": start})]
            if not rows:
                return
            yield rows
            start = rows[-1][0] + 1

    def _bulk_rows(
        self, statement: sa.Select[*tuple[Any, ...]], params: dict[str, int]
    ) -> list[Any]:
        """All rows of a large read, as plain tuples from the driver's own cursor.

        The cursor belongs to the same connection, so the read runs in the caller's
        transaction (begun by then: the audit reads the size first).
        """
        sql, order = _compiled(self._conn.dialect, statement)
        args = params if order is None else tuple(params[name] for name in order)
        cursor = self._conn.connection.cursor()
        try:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _stored_nodes(self, level: int, lo: int, hi: int) -> list[tuple[int, bytes]]:
        """``(index, hash)`` of the stored nodes at ``level`` with index in ``[lo, hi)``."""
        return self._bulk_rows(_select_nodes, {"level": level, "lo": lo, "hi": hi})

    # --- audit ---------------------------------------------------------------------

    def audit(
        self, progress: Callable[[int], None] | None = None, batch: int = 1 << 14
    ) -> LogDivergence | None:
        """Recompute every leaf hash and every stored subtree; return the first divergence.

        Reads the leaves in aligned spans of ``batch`` leaves (rounded down to a power of
        two) and checks, level by level, every complete subtree inside the span against
        its two stored children; the few subtrees above the spans come last. Each row is
        read once. Returns None when the log is intact. ``progress``, if given, receives
        the number of leaves checked after each span (they add up to the log's size).
        :meth:`audit_spans` and :meth:`audit_above` are the two halves, for an audit
        that splits the leaves between processes.
        """
        size = self.size()
        span = 1 << (max(_whole(batch, "batch"), 1).bit_length() - 1)
        for start in range(0, size, span):
            found = self.audit_spans(start, min(start + span, size), batch)
            if found is not None:
                return found
            if progress is not None:
                progress(min(span, size - start))
        return self.audit_above(size, batch)

    def audit_spans(
        self,
        start: int,
        end: int,
        batch: int = 1 << 14,
        rows: Callable[[list[tuple[int, bytes, bytes]]], None] | None = None,
    ) -> LogDivergence | None:
        """The leaves ``[start, end)`` and the subtrees inside their spans, in order.

        ``start`` is a multiple of the span (``batch`` rounded down to a power of two);
        the first divergence is the one :meth:`audit` meets in this range. ``rows``, if
        given, receives each span's leaf rows ``(index, input, stored hash)`` as read,
        every span even after a divergence, so that a caller reads each leaf only once.
        """
        span = 1 << (max(_whole(batch, "batch"), 1).bit_length() - 1)
        if start % span:
            raise TreeSizeError(f"start {start} is not a multiple of the span {span}")
        found: LogDivergence | None = None
        for lo in range(start, end, span):
            hi = min(lo + span, end)
            read = self._bulk_rows(_select_leaves, {"lo": lo, "hi": hi})
            if rows is not None:
                rows([(index, bytes(data), bytes(value)) for index, data, value in read])
            if found is None:
                found = self._audit_span(lo, hi, read)
            if found is not None and rows is None:
                break
        return found

    def _audit_span(self, start: int, end: int, rows: list[Any]) -> LogDivergence | None:
        if len(rows) != end - start:
            gap = _first_gap([index for index, _, _ in rows], start)
            return LogDivergence("missing", 0, gap, None, None)
        stored = [value for _, _, value in rows]
        recomputed = [_sha256(_LEAF + data).digest() for _, data, _ in rows]
        if stored != recomputed:
            return _first_difference("leaf", 0, start, stored, recomputed)
        return self._audit_levels(0, start, stored)

    def audit_above(self, size: int, batch: int = 1 << 14) -> LogDivergence | None:
        """The stored subtrees above the spans of :meth:`audit_spans`, for a log of ``size``."""
        top = max(_whole(batch, "batch"), 1).bit_length() - 1
        above = self._stored_nodes(top, 0, size >> top)
        if len(above) != size >> top:
            gap = _first_gap([index for index, _ in above], 0)
            return LogDivergence("missing", top, gap, None, None)
        return self._audit_levels(top, 0, [value for _, value in above])

    def _audit_levels(self, level: int, lo: int, below: list[bytes]) -> LogDivergence | None:
        """Check the stored subtrees above ``below``: stored hashes at ``level`` from ``lo``.

        ``lo`` must be even at every level on the way up (an aligned span), so that
        ``below`` pairs up into parents.
        """
        while len(below) >= 2:
            level, lo = level + 1, lo >> 1
            count = len(below) >> 1
            recomputed = [
                _sha256(_NODE + below[k] + below[k + 1]).digest() for k in range(0, 2 * count, 2)
            ]
            rows = self._stored_nodes(level, lo, lo + count)
            if len(rows) != count:
                gap = _first_gap([index for index, _ in rows], lo)
                return LogDivergence("missing", level, gap, None, recomputed[gap - lo])
            below = [value for _, value in rows]
            if below != recomputed:
                return _first_difference("node", level, lo, below, recomputed)
        return None


def copy_rows(
    conn: Connection,
    table: sa.TableClause,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> None:
    """Insert ``rows`` (values of ``columns``, in order) into ``table`` by one binary
    ``COPY`` on the PostgreSQL connection ``conn``, in its transaction.

    Binary, with each column's type given: the driver writes values without formatting
    them as text and the server reads them without parsing, which took several times
    longer per row on both sides (timestamps, and bytea as hex: a leaf input doubled).
    """
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("a connection in use always has its driver connection")
    names = ", ".join(columns)
    types = _copy_types(table, tuple(columns))
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


@functools.lru_cache(maxsize=64)
def _copy_types(table: sa.TableClause, columns: tuple[str, ...]) -> list[str]:
    """The PostgreSQL type of each column, as a binary COPY must send it: exactly the
    column's own (an int8 sent to an int4 column is refused, not converted)."""
    return [_pg_type(table.c[name].type) for name in columns]


def _pg_type(kind: sa.types.TypeEngine[Any]) -> str:
    # Subclasses first: BigInteger and SmallInteger are Integers, Text is a String.
    for sa_type, name in (
        (sa.BigInteger, "int8"),
        (sa.SmallInteger, "int2"),
        (sa.Integer, "int4"),
        (sa.LargeBinary, "bytea"),
        (sa.Boolean, "bool"),
        (sa.String, "text"),
    ):
        if isinstance(kind, sa_type):
            return name
    if isinstance(kind, sa.DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    raise TypeError(f"no binary COPY type for a {kind!r} column")


def _first_gap(indices: list[int], start: int) -> int:
    """The first index from ``start`` on that the ascending ``indices`` lack."""
    for expected, index in enumerate(indices, start):
        if index != expected:
            return expected
    return start + len(indices)


def _first_difference(
    what: str, level: int, lo: int, stored: list[bytes], recomputed: list[bytes]
) -> LogDivergence:
    k = next(k for k, (a, b) in enumerate(zip(stored, recomputed, strict=True)) if a != b)
    return LogDivergence(what, level, lo + k, stored[k], recomputed[k])
