"""Pass 4 of ``cardtrail audit``: each anchored checkpoint against the stored tree and
the contract on chain."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from anchoring import checkpoints
from anchoring.errors import Error as AnchoringError
from anchoring.log import MerkleLog
from ledger_service.audit_findings import ChainUnreachable, Divergence, Progress, ReaderFactory


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
