"""The anchoring worker: puts the log's tree head on chain, and keeps its records true.

One :meth:`Worker.step` brings the records in line with the chain and, if events wait,
anchors the log's current head:

1. the contract must still have code (else the chain was reset: stop, or in development
   redeploy and mark the old anchors orphaned);
2. recorded checkpoints whose block left the canonical chain are marked orphaned (reorg);
3. open transactions are settled from their receipts, or re-sent with the same nonce and a
   higher fee when dropped or stuck;
4. ``CheckpointAnchored`` events not yet recorded are recorded once confirmed — this is
   also how a worker killed between sending and recording catches up on restart;
5. if the log is larger than the contract's latest checkpoint, a ``CARD_MAP`` leaf is
   appended (the card map as of the log so far, docs/card-map.md) unless the log already
   ends with one, and the tree ending with it is anchored with a consistency proof from
   that checkpoint. The transaction is recorded *before* it is sent.

The contract, not the database, says what was anchored last; the database says what the
log is. A checkpoint on chain that is not a head of this log stops the worker
(:class:`~anchoring.errors.ChainDiverged`).

:meth:`Worker.run` repeats this every ANCHOR_INTERVAL seconds, or sooner when
ANCHOR_MAX_PENDING events wait, and backs off while the node is unreachable. Only one
worker runs per database (:class:`WorkerLock`); a hot standby on another host waits for
that lock (:func:`wait_for_lock`) and takes over when the leader dies. Its decisions are
pure functions:

    >>> from anchoring.worker import backoff_delay, should_anchor
    >>> should_anchor(log_size=12, anchored_size=10, since_last=2.5, interval=2.0, max_pending=1000)
    True
    >>> [backoff_delay(failures, base=1.0, cap=30.0) for failures in range(7)]
    [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from sqlalchemy.engine import Connection, Engine
from web3 import Web3

from anchoring import chain
from anchoring import checkpoints as cp
from anchoring.cardmap_store import append_card_map, prepare_card_map
from anchoring.db import is_postgres, read_transaction, write_transaction
from anchoring.errors import (
    AnchoringError,
    ChainDiverged,
    ChainUnavailable,
    ContractMissing,
    WorkerBusy,
)
from anchoring.keys import AnchorKey
from anchoring.log import MerkleLog
from anchoring.permissions import PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE
from anchoring.types import Checkpoint

logger = logging.getLogger("cardtrail.anchoring")

# pg_advisory_lock takes one 64-bit key; a fixed one derived from a name keeps it readable.
ADVISORY_LOCK_KEY = zlib.crc32(b"cardtrail-anchoring-worker")
# How often a standby worker tries the lock: a dead leader's lock is free at once (its
# session ends with its process), so this bounds how long anchoring pauses on a takeover.
STANDBY_POLL_SECONDS = 1.0
# Recorded checkpoints re-checked for reorgs on each step: the newest ones only, since a
# reorg deeper than this many anchors would be far beyond any chain's finality.
REORG_CHECK_DEPTH = 16


@dataclass(frozen=True)
class WorkerConfig:
    """How the worker paces itself (ANCHOR_* settings and their derived limits)."""

    interval: float = 2.0
    max_pending: int = 1000
    confirmations: int = 1
    dev_mode: bool = False
    stuck_after: float = 30.0
    """Seconds after which an unmined transaction is re-sent with a higher fee."""
    drop_grace: float = 1.0
    """Seconds after which a transaction that the node does not know is re-sent."""
    poll: float = 0.1
    """Seconds between checks while a transaction is in flight."""
    max_backoff: float = 30.0


# --- pure decisions ----------------------------------------------------------------------


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures: doubling from ``base``, capped."""
    if failures <= 0:
        return base
    return float(min(cap, base * 2 ** min(failures - 1, 16)))


def should_anchor(
    log_size: int, anchored_size: int, since_last: float, interval: float, max_pending: int
) -> bool:
    """True when events wait and either the interval passed or too many of them wait."""
    waiting = log_size - anchored_size
    if waiting <= 0:
        return False
    return since_last >= interval or (max_pending > 0 and waiting >= max_pending)


def confirmed(block_number: int, head: int, confirmations: int) -> bool:
    """True when a block has at least ``confirmations`` blocks on top, itself included."""
    return head - block_number + 1 >= max(confirmations, 1)


@dataclass(frozen=True)
class StepResult:
    """What one step did; ``busy`` asks the loop to come back soon (a transaction in flight)."""

    action: str
    busy: bool = False
    detail: str = ""


# --- the lock ----------------------------------------------------------------------------


class WorkerLock:
    """Exactly one worker per database: a PostgreSQL advisory lock, or a lock file on SQLite."""

    def __init__(self, engine: Engine, lock_file: Path | None = None) -> None:
        self.engine = engine
        self.lock_file = lock_file or _default_lock_file(engine)
        self._conn: Connection | None = None
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise WorkerBusy at once (never wait for another worker)."""
        if is_postgres(self.engine):
            conn = self.engine.connect()
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({ADVISORY_LOCK_KEY})").scalar()
            conn.commit()
            if not got:
                conn.close()
                raise WorkerBusy("another anchoring worker is running on this database")
            self._conn = conn
            return
        self.lock_file.parent.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WorkerBusy(f"another anchoring worker holds {self.lock_file}") from None
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (closing the session or file releases it too)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})")
            self._conn.close()
            self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def wait_for_lock(
    lock: WorkerLock,
    stop: threading.Event,
    poll: float = STANDBY_POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Stand by until ``lock`` is free, then take it: True once held, False if ``stop`` is set
    first. Tries every ``poll`` seconds; logs when it starts waiting and when it takes over."""
    began = clock()
    try:
        lock.acquire()
        return True
    except WorkerBusy as exc:
        logger.info("standing by: %s; trying the lock every %.1f s", exc, poll)
    while not stop.wait(poll):
        try:
            lock.acquire()
        except WorkerBusy:
            continue
        logger.info("took over the anchoring lock after %.1f s standing by", clock() - began)
        return True
    return False


def _default_lock_file(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        return Path(f"/tmp/cardtrail-anchor-{os.getuid()}.lock")
    return Path(f"{database}.anchor.lock")


# --- deployments -------------------------------------------------------------------------


def deploy_contract(engine: Engine, w3: Web3, key: AnchorKey) -> cp.Deployment:
    """Deploy a new LedgerAnchor from ``key`` and record it as the current deployment."""
    deployed = chain.deploy(w3, key)
    with write_transaction(engine) as conn:
        deployment = cp.record_deployment(
            conn,
            deployed.chain_id,
            deployed.contract,
            deployed.deployer,
            deployed.tx_hash,
            deployed.block_number,
        )
    logger.info(
        "deployed LedgerAnchor at %s on chain %d (tx %s)",
        deployed.contract,
        deployed.chain_id,
        deployed.tx_hash,
    )
    return deployment


def _check_chain(w3: Web3, deployment: cp.Deployment) -> None:
    """Raise ContractMissing unless ``deployment`` is alive on ``w3``'s chain."""
    reader = chain.AnchorReader(w3, deployment.contract)
    chain_id = reader.chain_id()
    if chain_id != deployment.chain_id:
        raise ContractMissing(
            f"the node is on chain {chain_id}, but LedgerAnchor {deployment.contract} was "
            f"deployed on chain {deployment.chain_id}"
        )
    reader.require_code()


def ensure_deployment(engine: Engine, w3: Web3, key: AnchorKey, dev_mode: bool) -> cp.Deployment:
    """The current deployment, deploying one if there is none.

    If the recorded contract is gone (the chain was reset): in development, retire it —
    its checkpoints are marked orphaned — and deploy a new one; otherwise raise
    ContractMissing with what to do.
    """
    with read_transaction(engine) as conn:
        deployment = cp.current_deployment(conn)
    if deployment is None:
        return deploy_contract(engine, w3, key)
    try:
        _check_chain(w3, deployment)
    except ContractMissing as exc:
        if not dev_mode:
            raise ContractMissing(
                f"{exc}. Anchoring stopped. If the chain really was reset, run "
                "`cardtrail deploy --redeploy` to anchor the log to a new contract"
            ) from None
        with write_transaction(engine) as conn:
            orphaned = cp.retire_deployment(conn, deployment, f"chain reset: {exc}"[:200])
        logger.warning("%s; redeploying (%d old checkpoints marked orphaned)", exc, orphaned)
        return deploy_contract(engine, w3, key)
    return deployment


# --- the worker --------------------------------------------------------------------------


class Worker:
    """Anchors the log of ``engine`` through ``w3`` with ``key``; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        w3: Web3,
        key: AnchorKey,
        config: WorkerConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.w3 = w3
        self.key = key
        self.config = config
        self.clock = clock
        self._last_anchor_at = float("-inf")
        self._client: chain.AnchorClient | None = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"Worker(account={self.key.address})"

    def _client_for(self, deployment: cp.Deployment) -> chain.AnchorClient:
        if self._client is None or self._client.address != deployment.contract:
            self._client = chain.AnchorClient(self.w3, deployment.contract, self.key)
        return self._client

    # one step --------------------------------------------------------------------------

    def step(self, now: float | None = None) -> StepResult:
        """Reconcile with the chain once, and anchor the head if it is time to.

        It is time when events wait and ANCHOR_INTERVAL passed since the last anchor (the
        first step always may), or when ANCHOR_MAX_PENDING events wait.
        """
        now = self.clock() if now is None else now
        deployment = ensure_deployment(self.engine, self.w3, self.key, self.config.dev_mode)
        client = self._client_for(deployment)
        head = client.block_number()
        self._orphan_reorged(client, deployment)
        in_flight = self._settle_open(client, deployment, head)
        chain_checkpoint = client.latest_checkpoint()
        log_size = self._check_against_log(chain_checkpoint)
        recorded = self._record_confirmed_events(client, deployment, head)
        if in_flight is not None:
            return in_flight
        due = should_anchor(
            log_size,
            chain_checkpoint.tree_size,
            now - self._last_anchor_at,
            self.config.interval,
            self.config.max_pending,
        )
        if not due:
            return StepResult("idle", detail=f"{recorded} recorded" if recorded else "")
        self._last_anchor_at = now
        return self._anchor(client, deployment, chain_checkpoint)

    def _orphan_reorged(self, client: chain.AnchorClient, deployment: cp.Deployment) -> int:
        with read_transaction(self.engine) as conn:
            records = cp.checkpoint_records(conn, deployment, cp.ANCHORED)
        orphaned = 0
        for record in records[-REORG_CHECK_DEPTH:]:
            canonical = client.block_hash(record.anchored.block_number)
            if canonical == record.anchored.block_hash:
                continue
            with write_transaction(self.engine) as conn:
                cp.orphan_checkpoint(
                    conn,
                    record,
                    f"block {record.anchored.block_number} {record.anchored.block_hash} is no "
                    "longer on the canonical chain",
                )
            logger.warning(
                "reorg: checkpoint of size %d (block %d) orphaned; it will be anchored again",
                record.tree_size,
                record.anchored.block_number,
            )
            orphaned += 1
        return orphaned

    def _check_against_log(self, chain_checkpoint: Checkpoint) -> int:
        """The log's size, after checking that the contract's checkpoint is a head of it."""
        with read_transaction(self.engine) as conn:
            log = MerkleLog(conn)
            size = log.size()
            if chain_checkpoint.tree_size > size:
                raise ChainDiverged(
                    f"the contract holds a checkpoint of size {chain_checkpoint.tree_size} "
                    f"but the log has only {size} events: wrong database or contract?"
                )
            if (
                chain_checkpoint.tree_size
                and log.root(chain_checkpoint.tree_size) != chain_checkpoint.root
            ):
                raise ChainDiverged(
                    f"the contract's root at size {chain_checkpoint.tree_size} is not this "
                    "log's root at that size"
                )
        return size

    def _record_confirmed_events(
        self, client: chain.AnchorClient, deployment: cp.Deployment, head: int
    ) -> int:
        safe = head - max(self.config.confirmations, 1) + 1
        with read_transaction(self.engine) as conn:
            records = cp.checkpoint_records(conn, deployment, cp.ANCHORED)
        recorded_sizes = {r.tree_size for r in records}
        start = max((r.anchored.block_number for r in records), default=deployment.block_number)
        if safe < start:
            return 0
        added = 0
        for event in client.anchored_events(start, safe):
            if event.checkpoint.tree_size in recorded_sizes:
                continue
            with write_transaction(self.engine) as conn:
                log = MerkleLog(conn)
                size = event.checkpoint.tree_size
                if size > log.size() or log.root(size) != event.checkpoint.root:
                    raise ChainDiverged(
                        f"anchored checkpoint of size {size} in tx {event.tx_hash} is not a "
                        "head of this log"
                    )
                cp.record_checkpoint(
                    conn,
                    deployment,
                    event.checkpoint,
                    event.tx_hash,
                    event.block_number,
                    event.block_hash,
                )
            recorded_sizes.add(event.checkpoint.tree_size)
            added += 1
            logger.info(
                "anchored tree size %d in block %d (tx %s)",
                event.checkpoint.tree_size,
                event.block_number,
                event.tx_hash,
            )
        return added

    def _settle_open(
        self, client: chain.AnchorClient, deployment: cp.Deployment, head: int
    ) -> StepResult | None:
        """Settle open transactions; a StepResult while one is still in flight, else None."""
        with read_transaction(self.engine) as conn:
            open_txs = cp.open_transactions(conn, deployment)
        if not open_txs:
            return None
        mined: tuple[cp.AnchorTransaction, chain.Receipt] | None = None
        for tx in open_txs:
            receipt = client.receipt(tx.tx_hash)
            if receipt is not None:
                mined = (tx, receipt)
                break
        if mined is not None:
            tx, receipt = mined
            if receipt.succeeded and not confirmed(
                receipt.block_number, head, self.config.confirmations
            ):
                return StepResult("confirming", busy=True, detail=tx.tx_hash)
            with write_transaction(self.engine) as conn:
                for other in open_txs:
                    status = cp.TX_REPLACED
                    if other.id == tx.id:
                        status = cp.TX_MINED if receipt.succeeded else cp.TX_FAILED
                    cp.settle_transaction(conn, other, status)
            if not receipt.succeeded:
                logger.warning("anchor transaction %s reverted; will anchor again", tx.tx_hash)
            return None
        nonce = open_txs[-1].nonce
        if client.confirmed_nonce() > nonce:
            # The nonce was used, but by none of our recorded transactions.
            with write_transaction(self.engine) as conn:
                for tx in open_txs:
                    cp.settle_transaction(conn, tx, cp.TX_DROPPED)
            logger.warning("nonce %d was used by another transaction; anchoring again", nonce)
            return None
        newest = open_txs[-1]
        age = (cp.utc_now() - newest.created_at).total_seconds()
        patience = (
            self.config.stuck_after if client.is_known(newest.tx_hash) else self.config.drop_grace
        )
        if age < patience:
            return StepResult("waiting", busy=True, detail=newest.tx_hash)
        return self._resend(client, deployment, newest)

    def _resend(
        self, client: chain.AnchorClient, deployment: cp.Deployment, stuck: cp.AnchorTransaction
    ) -> StepResult:
        with read_transaction(self.engine) as conn:
            same_nonce = [t for t in cp.transactions(conn, deployment) if t.nonce == stuck.nonce]
        fees = client.suggested_fees()
        for tx in same_nonce:
            fees = fees.at_least(
                chain.Fees(tx.max_fee_per_gas, tx.max_priority_fee_per_gas, tx.gas_price).bumped()
            )
        chain_checkpoint = client.latest_checkpoint()
        if chain_checkpoint.tree_size >= stuck.checkpoint.tree_size:
            # Anchored meanwhile by someone else: the stuck transaction would only revert.
            with write_transaction(self.engine) as conn:
                for tx in same_nonce:
                    cp.settle_transaction(conn, tx, cp.TX_DROPPED)
            return StepResult("superseded", detail=stuck.tx_hash)
        proof = self._proof(chain_checkpoint.tree_size, stuck.checkpoint.tree_size)
        signed = client.sign_anchor(stuck.checkpoint, proof, stuck.nonce, fees)
        self._record_and_send(client, deployment, signed)
        logger.warning(
            "anchor transaction %s not mined; re-sent as %s with nonce %d and higher fees",
            stuck.tx_hash,
            signed.tx_hash,
            stuck.nonce,
        )
        return StepResult("resent", busy=True, detail=signed.tx_hash)

    def _proof(self, size1: int, size2: int) -> list[bytes]:
        if size1 == 0:
            return []
        with read_transaction(self.engine) as conn:
            return list(MerkleLog(conn).consistency_proof(size1, size2).hashes)

    def _anchor(
        self, client: chain.AnchorClient, deployment: cp.Deployment, chain_checkpoint: Checkpoint
    ) -> StepResult:
        # The anchored tree ends with the CARD_MAP leaf of the cards as of that tree
        # (docs/card-map.md); events recorded after it wait for the next anchor. The map
        # update is computed first without the head lock, so writers wait only for the
        # events that land meanwhile.
        with read_transaction(self.engine) as conn:
            prepared = prepare_card_map(conn)
        with write_transaction(self.engine) as conn:
            card_map = append_card_map(conn, cp.utc_now(), prepared)
        if card_map is None:
            return StepResult("idle", detail="the log is empty")
        with read_transaction(self.engine) as conn:
            log = MerkleLog(conn)
            head = log.checkpoint(card_map.version + 1)
            proof = (
                list(log.consistency_proof(chain_checkpoint.tree_size, head.tree_size).hashes)
                if chain_checkpoint.tree_size
                else []
            )
        signed = client.sign_anchor(head, proof, client.confirmed_nonce(), client.suggested_fees())
        self._record_and_send(client, deployment, signed)
        logger.info(
            "sent anchor of tree size %d (from %d) as %s",
            head.tree_size,
            chain_checkpoint.tree_size,
            signed.tx_hash,
        )
        return StepResult("sent", busy=True, detail=signed.tx_hash)

    def _record_and_send(
        self, client: chain.AnchorClient, deployment: cp.Deployment, signed: chain.SignedAnchor
    ) -> None:
        # Recorded first: if the process dies right after sending, the next worker finds
        # the transaction and follows it instead of anchoring a second time blindly.
        with write_transaction(self.engine) as conn:
            tx = cp.record_transaction(
                conn,
                deployment,
                signed.checkpoint,
                signed.nonce,
                signed.tx_hash,
                max_fee_per_gas=signed.fees.max_fee_per_gas,
                max_priority_fee_per_gas=signed.fees.max_priority_fee_per_gas,
                gas_price=signed.fees.gas_price,
            )
        try:
            client.send(signed)
        except (chain.NonceConsumed, chain.FeeTooLow) as exc:
            with write_transaction(self.engine) as conn:
                cp.settle_transaction(conn, tx, cp.TX_DROPPED)
            logger.warning("anchor transaction %s not accepted: %s", signed.tx_hash, exc)

    # the loop --------------------------------------------------------------------------

    def pending_events(self) -> int:
        """How many events of the log are not yet covered by a recorded checkpoint."""
        with read_transaction(self.engine) as conn:
            size = MerkleLog(conn).size()
            latest = cp.latest_anchored(conn)
        return size - (latest.checkpoint.tree_size if latest else 0)

    def run(self, stop: threading.Event) -> None:
        """Anchor until ``stop`` is set. Node outages are retried with backoff; any other
        error ends the loop and is kept in :attr:`error` (and logged) for the caller."""
        tick = min(self.config.interval, 0.25) if self.config.interval > 0 else 0.05
        failures = 0
        next_step = 0.0
        try:
            while not stop.is_set():
                due = self.clock() >= next_step
                if not due and not failures and self.config.max_pending > 0:
                    due = self.pending_events() >= self.config.max_pending
                if not due:
                    stop.wait(max(0.01, min(tick, next_step - self.clock())))
                    continue
                try:
                    result = self.step()
                except ChainUnavailable as exc:
                    failures += 1
                    delay = backoff_delay(failures, 0.5, self.config.max_backoff)
                    logger.warning("chain unavailable (%s); retrying in %.1f s", exc, delay)
                    next_step = self.clock() + delay
                    continue
                if failures:
                    logger.info("chain reachable again after %d failed attempts", failures)
                failures = 0
                now = self.clock()
                if result.busy:
                    next_step = now + self.config.poll
                else:
                    # Anchor every ANCHOR_INTERVAL counted from the last anchor, not
                    # interval + confirmation time.
                    next_step = now + self.config.interval
                    if self._last_anchor_at + self.config.interval > now:
                        next_step = self._last_anchor_at + self.config.interval
        except AnchoringError as exc:
            self.error = exc
            logger.error("anchoring stopped: %s", exc)
        except Exception as exc:
            self.error = exc
            logger.exception("anchoring stopped by an unexpected error")

    @contextlib.contextmanager
    def running(self, lock: WorkerLock | None = None) -> Iterator[threading.Event]:
        """Run the loop in a thread under the worker lock; setting the event stops it."""
        lock = lock or WorkerLock(self.engine)
        stop = threading.Event()
        with lock:
            thread = threading.Thread(
                target=self.run, args=(stop,), name="anchoring-worker", daemon=True
            )
            thread.start()
            try:
                yield stop
            finally:
                stop.set()
                thread.join()
