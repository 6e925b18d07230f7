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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tqdm import tqdm

from anchoring import checkpoints
from anchoring.cardmap import CardHead, MemoryCardMap
from anchoring.cardmap_leaf import format_timestamp, is_map_leaf
from anchoring.cardmap_store import CardMapStore
from anchoring.db import read_transaction
from anchoring.errors import Error as AnchoringError
from anchoring.log import MerkleLog
from ledger_service.domain import value as card_value
from ledger_service.events import GENESIS, card_commitment, event_hash, leaf_input
from ledger_service.schema import cards, events

Progress = Callable[[int], None]
ReaderFactory = Callable[[str], Any]
"""Builds a chain reader (``root_at``) for a contract address."""

_BATCH = 10_000


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


def audit_tree(conn: Connection, progress: Progress | None = None) -> Divergence | None:
    """Leaves and nodes, via the log's own audit."""
    found = MerkleLog(conn).audit(progress)
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


def _row_mismatch(row: Any, salt: bytes | None, event: dict[str, Any]) -> str | None:
    """Which column of an events row disagrees with its leaf's event, if any."""
    if salt is None:
        return f"card_number {row.card_number!r} is not a card"
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
    amount, balance = card_value.event_columns(str(event.get("type")), event.get("data") or {})
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


def _event_rows(conn: Connection) -> Iterator[Any]:
    query = (
        sa.select(events, cards.c.salt)
        .select_from(events.outerjoin(cards, cards.c.number == events.c.card_number))
        .order_by(events.c.leaf_index)
    )
    start = 0
    while True:
        rows = conn.execute(query.where(events.c.leaf_index >= start).limit(_BATCH)).all()
        yield from rows
        if len(rows) < _BATCH:
            return
        start = rows[-1].leaf_index + 1


class _MapAudit:
    """Recomputes the card map leaf by leaf and checks each ``CARD_MAP`` leaf against it."""

    def __init__(self, conn: Connection) -> None:
        self.store = CardMapStore(conn)
        self.map = MemoryCardMap()
        self.changes: dict[bytes, bytes] = {}

    def event(self, index: int, event: dict[str, Any], leaf_hash: bytes) -> None:
        """Note an event (already checked against its row) as its card's head."""
        head = CardHead(int(event["seq"]), index, leaf_hash)
        self.changes[bytes.fromhex(event["card"])] = head.encode()

    def is_map_leaf(self, data: bytes) -> bool:
        """True when the leaf input is a CARD_MAP leaf (no events row belongs to it)."""
        try:
            value = json.loads(data)
        except ValueError:
            return False
        return isinstance(value, dict) and is_map_leaf(value)

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


def audit_events(
    conn: Connection, progress: Progress | None = None
) -> tuple[Divergence | None, dict[str, tuple[int, str]]]:
    """Every events row against its leaf; returns the divergence and each card's last event.

    ``CARD_MAP`` leaves have no row: each is checked against the card map recomputed from
    the events before it.
    """
    leaves = MerkleLog(conn).iter_leaves()
    maps = _MapAudit(conn)
    last: dict[str, tuple[int, str]] = {}
    done = 0
    for row in _event_rows(conn):
        leaf = next(leaves, None)
        while leaf is not None and leaf[0] < row.leaf_index and maps.is_map_leaf(leaf[1]):
            found = maps.map_leaf(leaf[0], bytes(leaf[1]))
            if found is not None:
                return found, last
            leaf = next(leaves, None)
        if leaf is None or leaf[0] > row.leaf_index:
            return Divergence(
                "events", f"leaf_index {row.leaf_index}", "no such leaf in the log"
            ), last
        if leaf[0] < row.leaf_index:
            return Divergence("events", f"leaf {leaf[0]}", "no events row for this leaf"), last
        data = bytes(leaf[1])
        try:
            event = json.loads(data)
            canonical = leaf_input(event) == data
        except (ValueError, TypeError):
            event, canonical = None, False
        if not canonical or not isinstance(event, dict):
            return Divergence(
                "events", f"leaf {row.leaf_index}", "leaf input is not canonical JSON"
            ), last
        mismatch = _row_mismatch(row, None if row.salt is None else bytes(row.salt), event)
        if mismatch:
            return Divergence("events", f"leaf_index {row.leaf_index}", mismatch), last
        seq, prev = last.get(row.card_number, (-1, GENESIS))
        if row.seq != seq + 1 or event.get("prev_event_hash") != prev:
            return Divergence(
                "events",
                f"leaf_index {row.leaf_index}",
                f"card's event seq {row.seq} does not follow seq {seq} by prev_event_hash",
            ), last
        last[row.card_number] = (row.seq, event_hash(data))
        maps.event(row.leaf_index, event, bytes(leaf[2]))
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(1000)
    extra = next(leaves, None)
    while extra is not None and maps.is_map_leaf(extra[1]):
        found = maps.map_leaf(extra[0], bytes(extra[1]))
        if found is not None:
            return found, last
        extra = next(leaves, None)
    if extra is not None:
        return Divergence("events", f"leaf {extra[0]}", "no events row for this leaf"), last
    if progress is not None:
        progress(done % 1000)
    return None, last


# --- pass 3: the cards table ----------------------------------------------------------


def audit_cards(conn: Connection, last: dict[str, tuple[int, str]]) -> Divergence | None:
    """Each card's seq and last_event_hash are those of its last logged event."""
    rows = conn.execute(
        sa.select(cards.c.number, cards.c.seq, cards.c.last_event_hash).order_by(cards.c.number)
    )
    for row in rows:
        if last.get(row.number) != (row.seq, row.last_event_hash):
            return Divergence(
                "cards",
                f"card {row.number}",
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


def run_audit(engine: Engine, reader: ReaderFactory, show_progress: bool = True) -> AuditResult:
    """Run the four passes on one consistent snapshot of the database."""
    findings: list[tuple[str, Divergence | None]] = []
    chain_error = None
    with read_transaction(engine) as conn:
        size = MerkleLog(conn).size()
        count = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        n_checkpoints = len(checkpoints.anchored_checkpoints(conn))

        def bar(total: int, what: str) -> tqdm:
            return tqdm(
                total=total,
                desc=what,
                unit=" rows",
                disable=not show_progress,
                leave=True,
                dynamic_ncols=True,
            )

        with bar(size, "leaves and nodes") as b:
            findings.append(("leaves and nodes", audit_tree(conn, b.update)))
        with bar(count, "events table") as b:
            found, last = audit_events(conn, b.update)
            findings.append(("events table", found))
        if found is None:  # the cards pass needs every card's last event
            findings.append(("cards table", audit_cards(conn, last)))
        with bar(n_checkpoints, "checkpoints") as b:
            try:
                findings.append(("checkpoints", audit_checkpoints(conn, reader, b.update)))
            except ChainUnreachable as exc:
                chain_error = str(exc)
    return AuditResult(tuple(findings), chain_error)
