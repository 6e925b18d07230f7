"""The chunk pass of ``cardtrail audit``: the tree and the events table over a range of
leaves, in any process.

Each leaf is read once: the tree pass checks it and the subtrees of its span
(:meth:`anchoring.log.MerkleLog.audit_spans`), the events pass its events row against it
(:mod:`ledger_service.audit_rows`) and each card's hash chain within the range; what
joins the range to the ranges before it goes into its :class:`ChunkReport`.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from anchoring import canonical
from anchoring.log import LogDivergence, MerkleLog
from ledger_service.audit_findings import Divergence, Found
from ledger_service.audit_map import entry_hash, is_map_leaf_input, map_key
from ledger_service.audit_rows import (
    CARD_LAST_EVENT_HASH,
    CARD_NUMBER,
    CARD_SEQ,
    LEAF_INDEX,
    SALT,
    SEQ,
    event_rows,
    row_agrees,
    row_mismatch,
)
from ledger_service.events import GENESIS

SPAN = 1 << 14
"""Leaves per span of the tree pass (:meth:`anchoring.log.MerkleLog.audit`'s default)."""
CHUNK = 1 << 15
"""The most leaves per task of the passes in several processes: two spans."""

_sha256 = hashlib.sha256
Segment = tuple[dict[int, bytes], tuple[int, bytes] | None]
"""The map entries (integer key → entry hash) changed before a CARD_MAP leaf, and the leaf."""


@dataclass
class ChunkReport:
    """What one process found in the leaves ``[start, end)``: the chunk's own checks, and
    what the merge needs to join it to the chunks before it.

    Each card's first event in the chunk cannot be checked against its predecessor here:
    ``fresh`` (a card's first event ever, by its seq 0 and genesis link) and ``linked``
    (any other) carry them to the merge. ``segments`` cut the chunk at its ``CARD_MAP``
    leaves: the map entries that changed before each one (as entry hashes,
    :func:`ledger_service.audit_map.entry_hash`), which the merge replays into the one
    card map, in order. The chunk stops at its first divergence (``failure``).

    The cards pass is checked here too, by each events row's card: an event whose seq is
    its card's ``seq`` must have the card's ``last_event_hash`` (``cards_closed`` counts
    them), and no event may have a higher seq (else ``cards_differ``). With every chain
    whole, the cards table holds exactly when no chunk differs and the chunks close as
    many cards as it has rows (:func:`ledger_service.audit_cards.audit_cards`).
    """

    start: int
    end: int
    tree: LogDivergence | None = None
    failure: Found | None = None
    fresh: dict[str, int] = field(default_factory=dict)
    linked: list[tuple[int, str, int, object]] = field(default_factory=list)
    last: dict[str, tuple[int, str]] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    cards_closed: int = 0
    cards_differ: bool = False


def follows(seq: int, prev: object, before: tuple[int, str]) -> bool:
    """True when an event (``seq``, ``prev_event_hash``) comes right after ``before``."""
    return seq == before[0] + 1 and prev == before[1]


def chain_break(index: int, seq: int, before: int) -> Found:
    """The divergence of an event that does not follow its card's event before."""
    return index, Divergence(
        "events",
        f"leaf_index {index}",
        f"card's event seq {seq} does not follow seq {before} by prev_event_hash",
    )


def audit_chunk(conn: Connection, start: int, end: int, span: int = SPAN) -> ChunkReport:
    """Passes 1 and 2 over the leaves ``[start, end)`` (``start`` a multiple of ``span``)."""
    leaves: list[tuple[int, bytes, bytes]] = []
    report = ChunkReport(start, end)
    with cycles_uncollected():
        report.tree = MerkleLog(conn).audit_spans(start, end, span, leaves.extend)
        report.failure = _chunk_events(conn, report, iter(leaves))
    return report


@contextmanager
def cycles_uncollected() -> Iterator[None]:
    """Run without the cyclic garbage collector.

    The audit keeps a tuple or dict per event until its chunk (in the main process: the
    log) is done, and makes several more per event that reference counting frees; the
    collector, woken by every few hundred of them, walks the kept ones again and again,
    more often as they grow: 3–6% of the serial audit's CPU over 200,000 events. Nothing
    the audit makes is cyclic.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _no_row(index: int) -> Found:
    return index, Divergence("events", f"leaf {index}", "no events row for this leaf")


def _chunk_events(  # noqa: C901 — one merge join, step for step the serial pass's
    conn: Connection, report: ChunkReport, leaves: Iterator[tuple[int, bytes, bytes]]
) -> Found | None:
    last, fresh, linked = report.last, report.fresh, report.linked
    changes: dict[int, bytes] = {}
    loads, sha256 = canonical.loads, _sha256
    leaf = next(leaves, None)
    for row in event_rows(conn, report.start, report.end):
        index = row[LEAF_INDEX]
        while leaf is not None and leaf[0] < index and is_map_leaf_input(leaf[1]):
            report.segments.append((changes, (leaf[0], leaf[1])))
            changes = {}
            leaf = next(leaves, None)
        if leaf is None or leaf[0] > index:
            return index, Divergence("events", f"leaf_index {index}", "no such leaf in the log")
        if leaf[0] < index:
            return _no_row(leaf[0])
        data = leaf[1]
        event = loads(data)
        if type(event) is not dict:
            return index, Divergence("events", f"leaf {index}", "leaf input is not canonical JSON")
        card, salt = row[CARD_NUMBER], row[SALT]
        key = b"" if salt is None else sha256(bytes(salt) + card.encode("ascii")).digest()
        if salt is None or not row_agrees(row, key.hex(), event):
            mismatch = row_mismatch(conn, index, event)
            if mismatch:
                return index, Divergence("events", f"leaf_index {index}", mismatch)
        seq, prev = row[SEQ], event.get("prev_event_hash")
        before = last.get(card)
        if before is None:
            # The card's first event in this chunk: the merge checks it against the chunks
            # before (in a single chunk, against nothing: seq 0 and the genesis link).
            if seq == 0 and prev == GENESIS:
                fresh[card] = index
            else:
                linked.append((index, card, seq, prev))
        elif not follows(seq, prev, before):
            return chain_break(index, seq, before[0])
        digest = sha256(data).hexdigest()
        if seq >= row[CARD_SEQ]:
            if seq == row[CARD_SEQ] and digest == row[CARD_LAST_EVENT_HASH]:
                report.cards_closed += 1
            else:
                report.cards_differ = True
        last[card] = (seq, digest)
        changes[map_key(key)] = entry_hash(key, seq, index, leaf[2])
        leaf = next(leaves, None)
    while leaf is not None:
        if not is_map_leaf_input(leaf[1]):
            return _no_row(leaf[0])
        report.segments.append((changes, (leaf[0], leaf[1])))
        changes = {}
        leaf = next(leaves, None)
    report.segments.append((changes, None))
    return None


def chunk_for(size: int) -> int:
    """Leaves per chunk: about a sixteenth of the log (work for every process, and a
    report now and then), a power of two from 1,024 to 32,768.

    It depends on the size only, so any number of processes splits the log alike.

        >>> chunk_for(0), chunk_for(20_000), chunk_for(200_000), chunk_for(10**6)
        (1024, 2048, 16384, 32768)
    """
    wanted = max(size // 16, 1)
    return min(max(1 << (wanted - 1).bit_length(), 1 << 10), CHUNK)


def chunks(size: int, chunk: int) -> list[tuple[int, int]]:
    """The ranges ``[start, end)`` of ``chunk`` leaves that cover a log of ``size``."""
    return [(start, min(start + chunk, size)) for start in range(0, size, chunk)]
