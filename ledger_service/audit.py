"""``cardtrail audit``: re-verify the whole log from the database, and against the chain.

Four passes, each reporting its first divergence:

1. the tree — every leaf hash recomputed from its stored input, every stored node from
   its children (:meth:`anchoring.log.MerkleLog.audit`);
2. the events table — every row agrees with the leaf at its ``leaf_index`` (card
   commitment, seq, type, both timestamps to the microsecond, store, actor), every leaf
   has exactly one row, each leaf input is canonical JSON, and each card's events are
   linked by ``prev_event_hash``: a single altered byte anywhere in the table shows.
   Each ``CARD_MAP`` leaf (docs/card-map.md) has no row: its map root and counts are
   recomputed from the events before it, and the stored map version must agree;
3. the cards table — each card's ``seq`` and ``last_event_hash`` match its last event;
4. the checkpoints — each anchored checkpoint's root equals the stored tree's root at that
   size and the contract's ``rootAt`` on chain.

The command is in :mod:`ledger_service.audit_cli`.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import BaseContext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tqdm import tqdm

from anchoring import canonical, checkpoints
from anchoring.cardmap import CardHead, MemoryCardMap
from anchoring.cardmap_leaf import format_timestamp, is_map_leaf
from anchoring.cardmap_store import CardMapStore
from anchoring.db import create_engine, read_transaction
from anchoring.errors import Error as AnchoringError
from anchoring.log import LogDivergence, MerkleLog
from ledger_service.domain import value as card_value
from ledger_service.events import GENESIS, card_commitment, event_hash, leaf_input
from ledger_service.schema import cards, events

Progress = Callable[[int], None]
ReaderFactory = Callable[[str], Any]
"""Builds a chain reader (``root_at``) for a contract address."""

_BATCH = 10_000
_SPAN = 1 << 14
"""Leaves per span of the tree pass (:meth:`anchoring.log.MerkleLog.audit`'s default)."""
_CHUNK = 1 << 15
"""The most leaves per task of the passes in several processes: two spans."""


@dataclass(frozen=True)
class Divergence:
    """The first place where what is stored does not agree with what it must be."""

    check: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.where}: {self.detail}"


class ChainUnreachable(Exception):
    """The chain could not be asked; the checkpoint pass is incomplete."""


# --- pass 1: the tree -----------------------------------------------------------------


def _tree_divergence(found: LogDivergence | None) -> Divergence | None:
    if found is None:
        return None
    what = "leaf" if found.level == 0 else f"node at level {found.level}"
    detail = {
        "leaf": "stored leaf hash is not the hash of the stored leaf input",
        "node": "stored hash is not the hash of its two children",
        "missing": "required by the log's size but not stored",
    }.get(found.what, found.what)
    return Divergence("tree", f"{what} {found.index}", detail)


# --- pass 2: the events table against the leaves --------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_stamp(text: object) -> datetime | None:
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    return _parse_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> datetime | None:
    # strptime is a third of the events pass, and the events of one transaction (a whole
    # issued batch) share their timestamps: parse each distinct stamp once.
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _naive_stamp(text: str) -> datetime | None:
    # SQLite hands timestamps back naive (in UTC): compare without converting each row.
    parsed = _parse_text(text)
    return None if parsed is None else parsed.replace(tzinfo=None)


def _same_moment(text: object, moment: datetime) -> bool:
    if type(text) is not str or not text.endswith("Z"):
        return False
    if moment.tzinfo is None:
        return _naive_stamp(text) == moment
    return _parse_text(text) == moment


def _row_agrees(row: Any, salt: bytes, event: dict[str, Any]) -> bool:
    """The common case of :func:`_row_mismatch`, without building its table of columns.

    Reads the row by position: a column by name costs ten times more, per row and column.
    """
    actor = event.get("actor")
    return (
        type(actor) is dict
        and event.get("leaf_index") == row[_LEAF_INDEX]
        and event.get("seq") == row[_SEQ]
        and event.get("type") == row[_TYPE]
        and event.get("store_id") == row[_STORE_ID]
        and actor.get("role") == row[_ACTOR_ROLE]
        and actor.get("id") == row[_ACTOR_ID]
        and _same_moment(event.get("occurred_at"), row[_OCCURRED_AT])
        and _same_moment(event.get("recorded_at"), row[_RECORDED_AT])
        and event.get("card") == card_commitment(salt, row[_CARD_NUMBER])
        and _value_columns(event) == (row[_AMOUNT], row[_BALANCE])
    )


def _value_columns(event: dict[str, Any]) -> tuple[int | None, int | None]:
    """The ``amount`` and ``balance`` columns the event's type and data call for."""
    return card_value.event_columns(str(event.get("type")), event.get("data") or {})


def _row_mismatch(row: Any, salt: bytes | None, event: dict[str, Any]) -> str | None:
    """Which column of an events row disagrees with its leaf's event, if any."""
    if salt is None:
        return f"card_number {row.card_number!r} is not a card"
    if _row_agrees(row, salt, event):
        return None
    expected = {
        "leaf_index": (event.get("leaf_index"), row.leaf_index),
        "card_number": (event.get("card"), card_commitment(salt, row.card_number)),
        "seq": (event.get("seq"), row.seq),
        "type": (event.get("type"), row.type),
        "occurred_at": (_parse_stamp(event.get("occurred_at")), _utc(row.occurred_at)),
        "recorded_at": (_parse_stamp(event.get("recorded_at")), _utc(row.recorded_at)),
        "store_id": (event.get("store_id"), row.store_id),
        "actor_role": ((event.get("actor") or {}).get("role"), row.actor_role),
        "actor_id": ((event.get("actor") or {}).get("id"), row.actor_id),
    }
    amount, balance = _value_columns(event)
    expected["amount"] = (amount, row.amount)
    expected["balance"] = (balance, row.balance)
    for column, (in_leaf, in_row) in expected.items():
        if in_leaf != in_row:
            hint = ""
            if (
                isinstance(in_row, datetime)
                and in_row.replace(microsecond=in_row.microsecond // 1000 * 1000) == in_leaf
            ):
                hint = " (it differs below the millisecond, which events do not record)"
            return f"column {column} does not match the logged event{hint}"
    return None


_select_event_rows = (
    sa.select(events, cards.c.salt)
    .select_from(events.outerjoin(cards, cards.c.number == events.c.card_number))
    .where(events.c.leaf_index >= sa.bindparam("lo"), events.c.leaf_index < sa.bindparam("hi"))
    .order_by(events.c.leaf_index)
)
_COLUMN = {column.name: i for i, column in enumerate(_select_event_rows.selected_columns)}
_LEAF_INDEX, _CARD_NUMBER, _SEQ, _TYPE, _SALT = (
    _COLUMN[name] for name in ("leaf_index", "card_number", "seq", "type", "salt")
)
_OCCURRED_AT, _RECORDED_AT, _STORE_ID, _ACTOR_ROLE, _ACTOR_ID = (
    _COLUMN[name] for name in ("occurred_at", "recorded_at", "store_id", "actor_role", "actor_id")
)
_AMOUNT, _BALANCE = _COLUMN["amount"], _COLUMN["balance"]


def _event_rows(conn: Connection, start: int, end: int) -> Iterator[Any]:
    """The events rows with ``leaf_index`` in ``[start, end)``, in order, with their salt."""
    for lo in range(start, end, _BATCH):
        yield from conn.execute(_select_event_rows, {"lo": lo, "hi": min(lo + _BATCH, end)}).all()


def _is_map_leaf(data: bytes) -> bool:
    """True when the leaf input is a CARD_MAP leaf (no events row belongs to it)."""
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and is_map_leaf(value)


class _MapAudit:
    """Recomputes the card map leaf by leaf and checks each ``CARD_MAP`` leaf against it."""

    def __init__(self, conn: Connection) -> None:
        self.store = CardMapStore(conn)
        self.map = MemoryCardMap()
        self.changes: dict[bytes, bytes] = {}

    def map_leaf(self, index: int, data: bytes) -> Divergence | None:
        """Check one CARD_MAP leaf against the map of every event before it."""
        where = f"leaf {index}"
        leaf = json.loads(data)
        if leaf_input(leaf) != data:
            return Divergence("card map", where, "leaf input is not canonical JSON")
        changed = len(self.changes)
        root = self.map.update(self.changes)
        self.changes = {}
        expected = {
            "type": "CARD_MAP",
            "leaf_index": index,
            "tree_size": index,
            "map_root": root.hex(),
            "cards": self.map.size,
            "changed": changed,
        }
        for member, value in expected.items():
            if leaf.get(member) != value:
                return Divergence(
                    "card map", where, f"{member} is {leaf.get(member)!r}, recomputed {value!r}"
                )
        stamp = _parse_stamp(leaf.get("recorded_at"))
        if set(leaf) != {*expected, "recorded_at"} or stamp is None:
            return Divergence("card map", where, "members are not those of a CARD_MAP leaf")
        if format_timestamp(stamp) != leaf["recorded_at"]:
            return Divergence("card map", where, "recorded_at is not a millisecond UTC stamp")
        stored = self.store.version(index)
        if stored is None or stored.root != root:
            return Divergence(
                "card map", where, "the stored card map of this version has another root"
            )
        return None


Found = tuple[int, Divergence]
"""A divergence of the events pass and the leaf index where the serial pass meets it."""


@dataclass
class ChunkReport:
    """What one process found in the leaves ``[start, end)``: the chunk's own checks, and
    what the merge needs to join it to the chunks before it.

    Each card's first event in the chunk cannot be checked against its predecessor here:
    ``fresh`` (a card's first event ever, by its seq 0 and genesis link) and ``linked``
    (any other) carry them to the merge. ``segments`` cut the chunk at its ``CARD_MAP``
    leaves: the card heads that changed before each one, which the merge replays into
    the one card map, in order. The chunk stops at its first divergence (``failure``).
    """

    start: int
    end: int
    tree: LogDivergence | None = None
    failure: Found | None = None
    fresh: dict[str, int] = field(default_factory=dict)
    linked: list[tuple[int, str, int, object]] = field(default_factory=list)
    last: dict[str, tuple[int, str]] = field(default_factory=dict)
    segments: list[tuple[dict[bytes, bytes], tuple[int, bytes] | None]] = field(
        default_factory=list
    )


def _follows(seq: int, prev: object, before: tuple[int, str]) -> bool:
    return seq == before[0] + 1 and prev == before[1]


def _chain_break(index: int, seq: int, before: int) -> Found:
    return index, Divergence(
        "events",
        f"leaf_index {index}",
        f"card's event seq {seq} does not follow seq {before} by prev_event_hash",
    )


def audit_chunk(conn: Connection, start: int, end: int, span: int = _SPAN) -> ChunkReport:
    """Passes 1 and 2 over the leaves ``[start, end)`` (``start`` a multiple of ``span``).

    Reads each leaf once: the tree pass checks the leaves and the subtrees of their spans
    (:meth:`anchoring.log.MerkleLog.audit_spans`), the events pass each row in the range
    against its leaf.
    """
    leaves: list[tuple[int, bytes, bytes]] = []
    report = ChunkReport(start, end)
    report.tree = MerkleLog(conn).audit_spans(start, end, span, leaves.extend)
    report.failure = _chunk_events(conn, report, iter(leaves))
    return report


def _chunk_events(  # noqa: C901 — one merge join, step for step the serial pass's
    conn: Connection, report: ChunkReport, leaves: Iterator[tuple[int, bytes, bytes]]
) -> Found | None:
    last, fresh, linked = report.last, report.fresh, report.linked
    changes: dict[bytes, bytes] = {}
    leaf = next(leaves, None)
    for row in _event_rows(conn, report.start, report.end):
        index = row[_LEAF_INDEX]
        while leaf is not None and leaf[0] < index and _is_map_leaf(leaf[1]):
            report.segments.append((changes, (leaf[0], leaf[1])))
            changes = {}
            leaf = next(leaves, None)
        if leaf is None or leaf[0] > index:
            return index, Divergence("events", f"leaf_index {index}", "no such leaf in the log")
        if leaf[0] < index:
            return leaf[0], Divergence("events", f"leaf {leaf[0]}", "no events row for this leaf")
        data = leaf[1]
        event = canonical.loads(data)
        if type(event) is not dict:
            return index, Divergence("events", f"leaf {index}", "leaf input is not canonical JSON")
        salt = row[_SALT]
        mismatch = _row_mismatch(row, None if salt is None else bytes(salt), event)
        if mismatch:
            return index, Divergence("events", f"leaf_index {index}", mismatch)
        card, seq, prev = row[_CARD_NUMBER], row[_SEQ], event.get("prev_event_hash")
        before = last.get(card)
        if before is None:
            # The card's first event in this chunk: the merge checks it against the chunks
            # before (in a single chunk, against nothing: seq 0 and the genesis link).
            if seq == 0 and prev == GENESIS:
                fresh[card] = index
            else:
                linked.append((index, card, seq, prev))
        elif not _follows(seq, prev, before):
            return _chain_break(index, seq, before[0])
        last[card] = (seq, event_hash(data))
        changes[bytes.fromhex(event["card"])] = CardHead(seq, index, leaf[2]).encode()
        leaf = next(leaves, None)
    while leaf is not None:
        if not _is_map_leaf(leaf[1]):
            return leaf[0], Divergence("events", f"leaf {leaf[0]}", "no events row for this leaf")
        report.segments.append((changes, (leaf[0], leaf[1])))
        changes = {}
        leaf = next(leaves, None)
    report.segments.append((changes, None))
    return None


class _EventsMerge:
    """Joins chunk reports, in leaf order, into the serial events pass's answer."""

    def __init__(self, conn: Connection) -> None:
        self.maps = _MapAudit(conn)
        self.last: dict[str, tuple[int, str]] = {}
        self.found: Divergence | None = None

    def add(self, report: ChunkReport) -> bool:
        """Take the next chunk; False once a divergence is found (later chunks cannot
        come before it)."""
        candidates = [report.failure] if report.failure else []
        for card in report.fresh.keys() & self.last.keys():
            candidates.append(_chain_break(report.fresh[card], 0, self.last[card][0]))
        for index, card, seq, prev in report.linked:
            before = self.last.get(card, (-1, GENESIS))
            if not _follows(seq, prev, before):
                candidates.append(_chain_break(index, seq, before[0]))
                break  # in leaf order: the first is the earliest
        first = min(candidates, key=lambda found: found[0], default=None)
        for changes, map_leaf in report.segments:
            if map_leaf is not None and first is not None and map_leaf[0] > first[0]:
                break
            self.maps.changes.update(changes)
            if map_leaf is not None:
                found = self.maps.map_leaf(*map_leaf)
                if found is not None:
                    first = map_leaf[0], found
                    break
        if first is not None:
            self.found = first[1]
            return False
        self.last.update(report.last)
        return True


def audit_events(
    conn: Connection, progress: Progress | None = None
) -> tuple[Divergence | None, dict[str, tuple[int, str]]]:
    """Every events row against its leaf; returns the divergence and each card's last event.

    ``CARD_MAP`` leaves have no row: each is checked against the card map recomputed from
    the events before it. In one process, on the caller's connection.
    """
    size = MerkleLog(conn).size()
    merge = _EventsMerge(conn)
    for start, end in _chunks(size, _CHUNK):
        if not merge.add(audit_chunk(conn, start, end)):
            return merge.found, merge.last
        if progress is not None:
            progress(end - start)
    return _rows_beyond(conn, size), merge.last


def _rows_beyond(conn: Connection, size: int) -> Divergence | None:
    """An events row whose leaf_index is past the log's end: it has no leaf."""
    beyond = conn.execute(
        sa.select(sa.func.min(events.c.leaf_index)).where(events.c.leaf_index >= size)
    ).scalar()
    if beyond is None:
        return None
    return Divergence("events", f"leaf_index {beyond}", "no such leaf in the log")


def chunk_for(size: int) -> int:
    """Leaves per chunk: about a sixteenth of the log (work for every process, and a
    report now and then), a power of two from 1,024 to 32,768.

    It depends on the size only, so any number of processes splits the log alike.

        >>> chunk_for(0), chunk_for(20_000), chunk_for(200_000), chunk_for(10**6)
        (1024, 2048, 16384, 32768)
    """
    wanted = max(size // 16, 1)
    return min(max(1 << (wanted - 1).bit_length(), 1 << 10), _CHUNK)


def _chunks(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk, size)) for start in range(0, size, chunk)]


# --- the passes in several processes --------------------------------------------------

_worker_engine: Engine | None = None


def _start_worker(url: str) -> None:
    global _worker_engine
    _worker_engine = create_engine(url)


def _audit_chunk_in_worker(task: tuple[int, int, int]) -> ChunkReport:
    if _worker_engine is None:
        raise RuntimeError("the audit worker was not started with its database")
    with read_transaction(_worker_engine) as conn:
        return audit_chunk(conn, *task)


def _shareable(engine: Engine) -> bool:
    """True when other processes can open the engine's database (not SQLite in memory)."""
    return engine.dialect.name != "sqlite" or engine.url.database not in (None, "", ":memory:")


@contextmanager
def _chunk_reports(
    engine: Engine, conn: Connection, size: int, jobs: int, chunk: int
) -> Iterator[Iterator[ChunkReport]]:
    """Each chunk's report, in leaf order: from ``jobs`` processes, or from ``conn``.

    Every process reads in its own transaction, only leaves and rows below ``size`` (the
    size in the caller's snapshot): the log only grows, so they all see the same ones.
    """
    span = min(chunk, _SPAN)
    tasks = [(start, end, span) for start, end in _chunks(size, chunk)]
    if jobs <= 1 or len(tasks) <= 1 or not _shareable(engine):
        yield (audit_chunk(conn, *task) for task in tasks)
        return
    # Not fork: SQLite keeps per-process lock state for open files that a forked child
    # would inherit from this process's open transaction. The fork server starts clean,
    # with this module loaded once, and forks the workers from there.
    context: BaseContext
    if "forkserver" in multiprocessing.get_all_start_methods():
        server = multiprocessing.get_context("forkserver")
        server.set_forkserver_preload([__name__])
        context = server
    else:
        context = multiprocessing.get_context("spawn")
    url = engine.url.render_as_string(hide_password=False)
    with context.Pool(min(jobs, len(tasks)), _start_worker, (url,)) as pool:
        yield pool.imap(_audit_chunk_in_worker, tasks)


# --- pass 3: the cards table ----------------------------------------------------------


def audit_cards(conn: Connection, last: dict[str, tuple[int, str]]) -> Divergence | None:
    """Each card's seq and last_event_hash are those of its last logged event."""
    query = sa.select(cards.c.number, cards.c.seq, cards.c.last_event_hash)
    stored = {(number, seq, digest) for number, seq, digest in conn.execute(query)}
    # Every card of an event is in the table (the events pass holds rows to cards), so
    # the two sets are equal exactly when every row matches: compare them whole first.
    if stored == {(number, seq, digest) for number, (seq, digest) in last.items()}:
        return None
    for number, seq, digest in sorted(stored):
        if last.get(number) != (seq, digest):
            return Divergence(
                "cards",
                f"card {number}",
                "seq or last_event_hash does not match its last logged event",
            )
    return None


# --- pass 4: checkpoints against the tree and the chain -----------------------------------


def audit_checkpoints(
    conn: Connection, reader: ReaderFactory, progress: Progress | None = None
) -> Divergence | None:
    """Each anchored checkpoint: the stored tree's root and the contract's rootAt agree."""
    log = MerkleLog(conn)
    size = log.size()
    found = checkpoints.anchored_checkpoints(conn)
    readers: dict[str, Any] = {}
    for anchored in found:
        cp = anchored.checkpoint
        where = f"checkpoint of size {cp.tree_size}"
        if cp.tree_size > size:
            return Divergence("checkpoints", where, f"beyond the log's size {size}")
        if log.root(cp.tree_size) != cp.root:
            return Divergence("checkpoints", where, "the stored tree has another root at this size")
        if anchored.contract not in readers:
            readers[anchored.contract] = reader(anchored.contract)
        try:
            on_chain = readers[anchored.contract].root_at(cp.tree_size)
        except AnchoringError as exc:
            raise ChainUnreachable(str(exc)) from None
        if on_chain != cp.root:
            what = "never anchored" if on_chain == bytes(32) else f"holds {on_chain.hex()}"
            return Divergence("checkpoints", where, f"the contract {what} for this size")
        if progress is not None:
            progress(1)
    return None


# --- the command ----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditResult:
    """What each pass found (None: it holds) and whether the chain could be asked."""

    findings: tuple[tuple[str, Divergence | None], ...]
    chain_error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every pass holds and the chain was asked."""
        return self.chain_error is None and all(d is None for _, d in self.findings)


def run_audit(
    engine: Engine,
    reader: ReaderFactory,
    show_progress: bool = True,
    jobs: int = 1,
    chunk: int | None = None,
) -> AuditResult:
    """Run the four passes on one consistent snapshot of the database.

    The tree and events passes run by chunks of ``chunk`` leaves (a power of two; by
    default :func:`chunk_for` the log's size) in ``jobs`` processes (one: in this one);
    their reports are joined in leaf order, so every finding is the one a single process
    meets first, whatever ``jobs``. SQLite in memory is audited in this process only.
    """
    if chunk is not None and (chunk < 1 or chunk & (chunk - 1)):
        raise ValueError(f"chunk {chunk} is not a power of two")
    findings: list[tuple[str, Divergence | None]] = []
    chain_error = None
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        size = log.size()
        chunk = chunk or chunk_for(size)
        n_checkpoints = len(checkpoints.anchored_checkpoints(conn))

        def bar(total: int, what: str, unit: str) -> tqdm:
            return tqdm(
                total=total,
                desc=what,
                unit=unit,
                disable=not show_progress,
                leave=True,
                dynamic_ncols=True,
            )

        tree: LogDivergence | None = None
        merge = _EventsMerge(conn)
        with (
            _chunk_reports(engine, conn, size, jobs, chunk) as reports,
            bar(size, "leaves, nodes and events", " leaves") as b,
        ):
            for report in reports:
                tree = tree or report.tree
                if merge.found is None:
                    merge.add(report)
                b.update(report.end - report.start)
                if tree is not None and merge.found is not None:
                    break
        tree = tree or log.audit_above(size, min(chunk, _SPAN))
        findings.append(("leaves and nodes", _tree_divergence(tree)))
        found = merge.found or _rows_beyond(conn, size)
        findings.append(("events table", found))
        if found is None:  # the cards pass needs every card's last event
            findings.append(("cards table", audit_cards(conn, merge.last)))
        with bar(n_checkpoints, "checkpoints", " checkpoints") as b:
            try:
                findings.append(("checkpoints", audit_checkpoints(conn, reader, b.update)))
            except ChainUnreachable as exc:
                chain_error = str(exc)
    return AuditResult(tuple(findings), chain_error)
