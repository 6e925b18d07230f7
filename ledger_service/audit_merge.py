"""The events pass of ``cardtrail audit`` joined across chunks: each card's hash chain
from one chunk to the next, and the card map replayed through every chunk in leaf order."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from anchoring.log import MerkleLog
from ledger_service.audit_chunk import CHUNK, ChunkReport, audit_chunk, chain_break, chunks, follows
from ledger_service.audit_findings import Divergence, Found, Progress
from ledger_service.audit_map import Builder, MapAudit, bucket_hashes
from ledger_service.events import GENESIS
from ledger_service.schema import events


class EventsMerge:
    """Joins chunk reports, in leaf order, into the serial events pass's answer."""

    def __init__(self, conn: Connection, builder: Builder = bucket_hashes) -> None:
        self.maps = MapAudit(conn, builder)
        self.last: dict[str, tuple[int, str]] = {}
        self.found: Divergence | None = None
        # Cards closed by their last event (ChunkReport); None once a chunk's differ.
        self.cards_closed: int | None = 0

    def add(self, report: ChunkReport) -> bool:
        """Take the next chunk; False once a divergence is found (later chunks cannot
        come before it)."""
        candidates = [report.failure] if report.failure else []
        for card in report.fresh.keys() & self.last.keys():
            candidates.append(chain_break(report.fresh[card], 0, self.last[card][0]))
        for index, card, seq, prev in report.linked:
            before = self.last.get(card, (-1, GENESIS))
            if not follows(seq, prev, before):
                candidates.append(chain_break(index, seq, before[0]))
                break  # in leaf order: the first is the earliest
        first = min(candidates, key=lambda found: found[0], default=None)
        first = self._replay_map(report, first)
        if first is not None:
            self.found = first[1]
            return False
        self.last.update(report.last)
        if self.cards_closed is not None:
            self.cards_closed = (
                None if report.cards_differ else self.cards_closed + report.cards_closed
            )
        return True

    def _replay_map(self, report: ChunkReport, first: Found | None) -> Found | None:
        """Replay the chunk's map changes up to its first divergence; the earlier of that
        and a CARD_MAP leaf that does not hold."""
        for changes, map_leaf in report.segments:
            if map_leaf is not None and first is not None and map_leaf[0] > first[0]:
                break
            self.maps.changes.update(changes)
            if map_leaf is not None:
                found = self.maps.map_leaf(*map_leaf)
                if found is not None:
                    return map_leaf[0], found
        return first


def audit_events(
    conn: Connection, progress: Progress | None = None
) -> tuple[Divergence | None, dict[str, tuple[int, str]]]:
    """Every events row against its leaf; returns the divergence and each card's last event.

    ``CARD_MAP`` leaves have no row: each is checked against the card map recomputed from
    the events before it. In one process, on the caller's connection.
    """
    size = MerkleLog(conn).size()
    merge = EventsMerge(conn)
    for start, end in chunks(size, CHUNK):
        if not merge.add(audit_chunk(conn, start, end)):
            return merge.found, merge.last
        if progress is not None:
            progress(end - start)
    return rows_beyond(conn, size), merge.last


def rows_beyond(conn: Connection, size: int) -> Divergence | None:
    """An events row whose leaf_index is past the log's end: it has no leaf."""
    beyond = conn.execute(
        sa.select(sa.func.min(events.c.leaf_index)).where(events.c.leaf_index >= size)
    ).scalar()
    if beyond is None:
        return None
    return Divergence("events", f"leaf_index {beyond}", "no such leaf in the log")
