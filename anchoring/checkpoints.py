"""What was anchored where: contract deployments, checkpoints and anchoring transactions.

Every function works on the caller's connection inside the caller's transaction. The
anchoring worker is the only writer; the portal, the API and bundles read
:func:`current_deployment`, :func:`latest_anchored`, :func:`anchored_checkpoints` and its
pages (:func:`anchored_checkpoints_from`).

    >>> from anchoring.db import create_engine, write_transaction
    >>> from anchoring.schema import metadata
    >>> from anchoring.types import Checkpoint
    >>> engine = create_engine("sqlite:///:memory:")
    >>> metadata.create_all(engine)
    >>> with write_transaction(engine) as conn:
    ...     d = record_deployment(
    ...         conn, 31337, "0x" + "ab" * 20, "0x" + "cd" * 20, "0x" + "01" * 32, 1
    ...     )
    ...     root = Checkpoint(3, b"\\x11" * 32)
    ...     _ = record_checkpoint(conn, d, root, "0x" + "02" * 32, 2, "0x" + "03" * 32)
    ...     latest_anchored(conn).checkpoint.tree_size
    3
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from anchoring.errors import AnchoringError
from anchoring.schema import anchor_transactions, checkpoints, deployments
from anchoring.types import AnchoredCheckpoint, Checkpoint

ANCHORED = "anchored"
ORPHANED = "orphaned"

TX_PENDING = "pending"
TX_MINED = "mined"
TX_FAILED = "failed"
TX_REPLACED = "replaced"
TX_DROPPED = "dropped"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without their zone; they were written as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Deployment:
    """One instance of the LedgerAnchor contract that this log is (or was) anchored to."""

    chain_id: int
    contract: str
    deployer: str
    tx_hash: str
    block_number: int
    deployed_at: datetime
    id: int
    retired_at: datetime | None = None
    retired_reason: str | None = None

    @classmethod
    def _from_row(cls, row: Row[*tuple[Any, ...]]) -> Deployment:
        return cls(
            chain_id=row.chain_id,
            contract=row.contract,
            deployer=row.deployer,
            tx_hash=row.tx_hash,
            block_number=row.block_number,
            deployed_at=_utc(row.deployed_at),
            id=row.id,
            retired_at=_utc(row.retired_at),
            retired_reason=row.retired_reason,
        )


@dataclass(frozen=True)
class CheckpointRecord:
    """A stored checkpoint with its bookkeeping: still ``anchored`` or ``orphaned``."""

    id: int
    deployment_id: int
    anchored: AnchoredCheckpoint
    status: str
    recorded_at: datetime
    orphaned_at: datetime | None
    orphan_reason: str | None

    @property
    def tree_size(self) -> int:
        """The checkpoint's tree size."""
        return self.anchored.checkpoint.tree_size


@dataclass(frozen=True)
class AnchorTransaction:
    """One signed ``anchor`` transaction, recorded before it was sent."""

    id: int
    deployment_id: int
    checkpoint: Checkpoint
    nonce: int
    tx_hash: str
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    gas_price: int | None
    status: str
    created_at: datetime


_CHECKPOINT_COLUMNS = (
    checkpoints,
    deployments.c.chain_id,
    deployments.c.contract,
)


def _record_from_row(row: Row[*tuple[Any, ...]]) -> CheckpointRecord:
    anchored = AnchoredCheckpoint(
        checkpoint=Checkpoint(row.tree_size, bytes.fromhex(row.root)),
        chain_id=row.chain_id,
        contract=row.contract,
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        block_hash=row.block_hash,
    )
    return CheckpointRecord(
        id=row.id,
        deployment_id=row.deployment_id,
        anchored=anchored,
        status=row.status,
        recorded_at=_utc(row.recorded_at),
        orphaned_at=_utc(row.orphaned_at),
        orphan_reason=row.orphan_reason,
    )


def _checkpoint_query() -> sa.Select[*tuple[Any, ...]]:
    return sa.select(*_CHECKPOINT_COLUMNS).join(
        deployments, deployments.c.id == checkpoints.c.deployment_id
    )


# --- deployments -------------------------------------------------------------------------


def record_deployment(
    conn: Connection,
    chain_id: int,
    contract: str,
    deployer: str,
    tx_hash: str,
    block_number: int,
    now: datetime | None = None,
) -> Deployment:
    """Record a freshly deployed contract; it becomes the current deployment.

    Any other deployment still current is retired first, so there is only ever one.
    """
    now = now or utc_now()
    conn.execute(
        deployments.update()
        .where(deployments.c.retired_at.is_(None))
        .values(retired_at=now, retired_reason=f"replaced by {contract} on chain {chain_id}")
    )
    new_id = conn.execute(
        deployments.insert()
        .values(
            chain_id=chain_id,
            contract=contract,
            deployer=deployer,
            tx_hash=tx_hash,
            block_number=block_number,
            deployed_at=now,
        )
        .returning(deployments.c.id)
    ).scalar_one()
    row = conn.execute(sa.select(deployments).where(deployments.c.id == new_id)).one()
    return Deployment._from_row(row)


def current_deployment(conn: Connection) -> Deployment | None:
    """The contract that checkpoints are anchored to now, or None before the first deploy."""
    row = conn.execute(
        sa.select(deployments)
        .where(deployments.c.retired_at.is_(None))
        .order_by(deployments.c.id.desc())
        .limit(1)
    ).first()
    return Deployment._from_row(row) if row else None


def all_deployments(conn: Connection) -> list[Deployment]:
    """Every deployment, oldest first, retired ones included."""
    rows = conn.execute(sa.select(deployments).order_by(deployments.c.id)).all()
    return [Deployment._from_row(row) for row in rows]


def retire_deployment(
    conn: Connection, deployment: Deployment, reason: str, now: datetime | None = None
) -> int:
    """Retire ``deployment`` (e.g. its chain was reset) and orphan its checkpoints.

    Returns how many checkpoints were orphaned. Open transactions are marked dropped.
    """
    now = now or utc_now()
    conn.execute(
        deployments.update()
        .where(deployments.c.id == deployment.id)
        .values(retired_at=now, retired_reason=reason[:200])
    )
    conn.execute(
        anchor_transactions.update()
        .where(
            anchor_transactions.c.deployment_id == deployment.id,
            anchor_transactions.c.status == TX_PENDING,
        )
        .values(status=TX_DROPPED, settled_at=now)
    )
    result = conn.execute(
        checkpoints.update()
        .where(checkpoints.c.deployment_id == deployment.id, checkpoints.c.status == ANCHORED)
        .values(status=ORPHANED, orphaned_at=now, orphan_reason=reason[:200])
    )
    return int(result.rowcount)


# --- checkpoints -------------------------------------------------------------------------


def record_checkpoint(
    conn: Connection,
    deployment: Deployment,
    checkpoint: Checkpoint,
    tx_hash: str,
    block_number: int,
    block_hash: str,
    now: datetime | None = None,
) -> CheckpointRecord:
    """Record a confirmed ``anchor`` of ``checkpoint`` (idempotent for the same transaction).

    Raises AnchoringError when another valid record already holds this tree size: one
    size is anchored once, and a conflicting record must be orphaned first.
    """
    existing = conn.execute(
        _checkpoint_query().where(
            checkpoints.c.deployment_id == deployment.id,
            checkpoints.c.tree_size == checkpoint.tree_size,
            checkpoints.c.status == ANCHORED,
        )
    ).first()
    if existing is not None:
        record = _record_from_row(existing)
        same = (
            record.anchored.checkpoint == checkpoint
            and record.anchored.tx_hash == tx_hash
            and record.anchored.block_hash == block_hash
        )
        if same:
            return record
        raise AnchoringError(
            f"tree size {checkpoint.tree_size} is already recorded as anchored by "
            f"{record.anchored.tx_hash} in block {record.anchored.block_number}"
        )
    new_id = conn.execute(
        checkpoints.insert()
        .values(
            deployment_id=deployment.id,
            tree_size=checkpoint.tree_size,
            root=checkpoint.root.hex(),
            tx_hash=tx_hash,
            block_number=block_number,
            block_hash=block_hash,
            status=ANCHORED,
            recorded_at=now or utc_now(),
        )
        .returning(checkpoints.c.id)
    ).scalar_one()
    return _record_from_row(
        conn.execute(_checkpoint_query().where(checkpoints.c.id == new_id)).one()
    )


def orphan_checkpoint(
    conn: Connection, record: CheckpointRecord, reason: str, now: datetime | None = None
) -> None:
    """Mark a recorded checkpoint as no longer on the canonical chain."""
    conn.execute(
        checkpoints.update()
        .where(checkpoints.c.id == record.id, checkpoints.c.status == ANCHORED)
        .values(status=ORPHANED, orphaned_at=now or utc_now(), orphan_reason=reason[:200])
    )


def checkpoint_records(
    conn: Connection, deployment: Deployment | None = None, status: str | None = None
) -> list[CheckpointRecord]:
    """Stored checkpoints, oldest first: of one deployment (default: all) and status."""
    query = _checkpoint_query().order_by(checkpoints.c.id)
    if deployment is not None:
        query = query.where(checkpoints.c.deployment_id == deployment.id)
    if status is not None:
        query = query.where(checkpoints.c.status == status)
    return [_record_from_row(row) for row in conn.execute(query)]


def anchored_checkpoints(conn: Connection) -> list[AnchoredCheckpoint]:
    """The current deployment's valid checkpoints, smallest tree size first."""
    deployment = current_deployment(conn)
    if deployment is None:
        return []
    records = checkpoint_records(conn, deployment, ANCHORED)
    return [r.anchored for r in sorted(records, key=lambda r: r.tree_size)]


# One statement, built once: every public card page and bundle asks for it.
_CURRENT_DEPLOYMENT_ID = (
    sa.select(deployments.c.id)
    .where(deployments.c.retired_at.is_(None))
    .order_by(deployments.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
# The status as a literal, not a bound parameter: SQLite may use the partial index
# checkpoints_one_anchored_per_size (WHERE status = 'anchored') for a bound value only by
# preparing the statement again on every execution, which made this read, done on every
# public lookup, five times slower.
_IS_ANCHORED = checkpoints.c.status == sa.literal_column(f"'{ANCHORED}'")
_LATEST_ANCHORED = (
    _checkpoint_query()
    .where(checkpoints.c.deployment_id == _CURRENT_DEPLOYMENT_ID, _IS_ANCHORED)
    .order_by(checkpoints.c.tree_size.desc())
    .limit(1)
)


def latest_anchored(conn: Connection) -> AnchoredCheckpoint | None:
    """The newest checkpoint of the current deployment that is still valid on chain."""
    row = conn.execute(_LATEST_ANCHORED).first()
    return _record_from_row(row).anchored if row else None


def latest_anchored_subquery(name: str) -> sa.Subquery:
    """:func:`latest_anchored`'s statement as a subquery of at most one row, for a caller
    that reads it in the same statement as other rows (see :func:`anchored_in`)."""
    return _LATEST_ANCHORED.subquery(name)


def anchored_in(row: Row[*tuple[Any, ...]]) -> AnchoredCheckpoint | None:
    """The checkpoint in a row holding the columns of :func:`latest_anchored_subquery`
    (None: they are NULL, an outer join that found no anchored checkpoint)."""
    return None if row.tree_size is None else _record_from_row(row).anchored


def anchored_checkpoints_from(conn: Connection, start: int, limit: int) -> list[AnchoredCheckpoint]:
    """Up to ``limit`` of the current deployment's valid checkpoints whose tree size is at
    least ``start``, smallest first: one page of :func:`anchored_checkpoints`."""
    query = (
        _checkpoint_query()
        .where(
            checkpoints.c.deployment_id == _CURRENT_DEPLOYMENT_ID,
            _IS_ANCHORED,
            checkpoints.c.tree_size >= start,
        )
        .order_by(checkpoints.c.tree_size)
        .limit(limit)
    )
    return [_record_from_row(row).anchored for row in conn.execute(query)]


# --- anchoring transactions --------------------------------------------------------------


def _tx_from_row(row: Row[*tuple[Any, ...]]) -> AnchorTransaction:
    return AnchorTransaction(
        id=row.id,
        deployment_id=row.deployment_id,
        checkpoint=Checkpoint(row.tree_size, bytes.fromhex(row.root)),
        nonce=row.nonce,
        tx_hash=row.tx_hash,
        max_fee_per_gas=row.max_fee_per_gas,
        max_priority_fee_per_gas=row.max_priority_fee_per_gas,
        gas_price=row.gas_price,
        status=row.status,
        created_at=_utc(row.created_at),
    )


def record_transaction(
    conn: Connection,
    deployment: Deployment,
    checkpoint: Checkpoint,
    nonce: int,
    tx_hash: str,
    *,
    max_fee_per_gas: int | None = None,
    max_priority_fee_per_gas: int | None = None,
    gas_price: int | None = None,
    now: datetime | None = None,
) -> AnchorTransaction:
    """Record a signed transaction as pending. Commit this *before* sending it."""
    new_id = conn.execute(
        anchor_transactions.insert()
        .values(
            deployment_id=deployment.id,
            tree_size=checkpoint.tree_size,
            root=checkpoint.root.hex(),
            nonce=nonce,
            tx_hash=tx_hash,
            max_fee_per_gas=max_fee_per_gas,
            max_priority_fee_per_gas=max_priority_fee_per_gas,
            gas_price=gas_price,
            status=TX_PENDING,
            created_at=now or utc_now(),
        )
        .returning(anchor_transactions.c.id)
    ).scalar_one()
    row = conn.execute(
        sa.select(anchor_transactions).where(anchor_transactions.c.id == new_id)
    ).one()
    return _tx_from_row(row)


def open_transactions(conn: Connection, deployment: Deployment) -> list[AnchorTransaction]:
    """The deployment's pending transactions, oldest first (all share one nonce in practice)."""
    rows = conn.execute(
        sa.select(anchor_transactions)
        .where(
            anchor_transactions.c.deployment_id == deployment.id,
            anchor_transactions.c.status == TX_PENDING,
        )
        .order_by(anchor_transactions.c.id)
    ).all()
    return [_tx_from_row(row) for row in rows]


def transactions(conn: Connection, deployment: Deployment | None = None) -> list[AnchorTransaction]:
    """Every recorded anchoring transaction (of one deployment), oldest first."""
    query = sa.select(anchor_transactions).order_by(anchor_transactions.c.id)
    if deployment is not None:
        query = query.where(anchor_transactions.c.deployment_id == deployment.id)
    return [_tx_from_row(row) for row in conn.execute(query)]


def settle_transaction(
    conn: Connection, tx: AnchorTransaction, status: str, now: datetime | None = None
) -> None:
    """Close a pending transaction as mined, failed, replaced or dropped."""
    if status not in (TX_MINED, TX_FAILED, TX_REPLACED, TX_DROPPED):
        raise ValueError(f"not a final transaction status: {status!r}")
    conn.execute(
        anchor_transactions.update()
        .where(anchor_transactions.c.id == tx.id, anchor_transactions.c.status == TX_PENDING)
        .values(status=status, settled_at=now or utc_now())
    )
