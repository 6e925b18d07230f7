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

The command is in :mod:`ledger_service.audit_cli`. This module runs the passes; they are
in :mod:`~ledger_service.audit_chunk` (the tree, the events rows and each row's card, by
chunk of leaves, in any process; rows checked in :mod:`~ledger_service.audit_rows`),
:mod:`~ledger_service.audit_pool` (the processes), :mod:`~ledger_service.audit_merge`
(the chunks joined: hash chains across chunks, and the card map of
:mod:`~ledger_service.audit_map`), :mod:`~ledger_service.audit_cards` and
:mod:`~ledger_service.audit_checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from tqdm import tqdm

from anchoring import checkpoints
from anchoring.db import read_transaction
from anchoring.log import LogDivergence, MerkleLog
from ledger_service.audit_cards import audit_cards
from ledger_service.audit_checkpoints import audit_checkpoints
from ledger_service.audit_chunk import (
    SPAN,
    ChunkReport,
    audit_chunk,
    chunk_for,
    cycles_uncollected,
)
from ledger_service.audit_findings import (
    ChainUnreachable,
    Divergence,
    Progress,
    ReaderFactory,
    tree_divergence,
)
from ledger_service.audit_merge import EventsMerge, audit_events, rows_beyond
from ledger_service.audit_pool import chunk_reports

__all__ = [
    "AuditResult",
    "ChainUnreachable",
    "ChunkReport",
    "Divergence",
    "Progress",
    "ReaderFactory",
    "audit_cards",
    "audit_checkpoints",
    "audit_chunk",
    "audit_events",
    "chunk_for",
    "run_audit",
]


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
    with cycles_uncollected(), read_transaction(engine) as conn:
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
        with (
            chunk_reports(engine, conn, size, jobs, chunk) as (reports, builder),
            bar(size, "leaves, nodes and events", " leaves") as b,
        ):
            merge = EventsMerge(conn, builder)
            for report in reports:
                tree = tree or report.tree
                if merge.found is None:
                    merge.add(report)
                b.update(report.end - report.start)
                if tree is not None and merge.found is not None:
                    break
        tree = tree or log.audit_above(size, min(chunk, SPAN))
        findings.append(("leaves and nodes", tree_divergence(tree)))
        found = merge.found or rows_beyond(conn, size)
        findings.append(("events table", found))
        if found is None:  # the cards pass needs every card's last event
            findings.append(("cards table", audit_cards(conn, merge.last, merge.cards_closed)))
        with bar(n_checkpoints, "checkpoints", " checkpoints") as b:
            try:
                findings.append(("checkpoints", audit_checkpoints(conn, reader, b.update)))
            except ChainUnreachable as exc:
                chain_error = str(exc)
    return AuditResult(tuple(findings), chain_error)
