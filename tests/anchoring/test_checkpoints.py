"""Deployments, checkpoints and anchoring transactions on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from anchoring import checkpoints as cp
from anchoring.db import read_transaction, write_transaction
from anchoring.errors import AnchoringError
from anchoring.schema import metadata
from anchoring.types import Checkpoint

CHAIN = 31337
CONTRACT = "0x" + "ab" * 20
OTHER_CONTRACT = "0x" + "ef" * 20
DEPLOYER = "0x" + "cd" * 20


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _cp(size: int) -> Checkpoint:
    return Checkpoint(size, bytes([size % 256]) * 32)


@pytest.fixture
def db(engine):
    metadata.create_all(engine)
    return engine


def _deploy(conn, contract=CONTRACT):
    return cp.record_deployment(conn, CHAIN, contract, DEPLOYER, _hash(1), 1)


def test_no_deployment_means_nothing_anchored(db):
    with read_transaction(db) as conn:
        assert cp.current_deployment(conn) is None
        assert cp.latest_anchored(conn) is None
        assert cp.anchored_checkpoints(conn) == []


def test_recorded_checkpoints_come_back_with_their_chain_data(db):
    with write_transaction(db) as conn:
        d = _deploy(conn)
        cp.record_checkpoint(conn, d, _cp(3), _hash(10), 5, _hash(11))
        cp.record_checkpoint(conn, d, _cp(7), _hash(12), 6, _hash(13))
    with read_transaction(db) as conn:
        latest = cp.latest_anchored(conn)
        assert latest.checkpoint == _cp(7)
        assert (latest.chain_id, latest.contract) == (CHAIN, CONTRACT)
        assert (latest.tx_hash, latest.block_number, latest.block_hash) == (_hash(12), 6, _hash(13))
        assert [a.checkpoint.tree_size for a in cp.anchored_checkpoints(conn)] == [3, 7]


def test_a_page_of_checkpoints_starts_at_a_tree_size_and_skips_orphans(db):
    with write_transaction(db) as conn:
        old = _deploy(conn, OTHER_CONTRACT)
        cp.record_checkpoint(conn, old, _cp(4), _hash(9), 4, _hash(9))
        cp.retire_deployment(conn, old, "replaced")
        d = _deploy(conn)
        for size in (2, 4, 6, 8):
            cp.record_checkpoint(conn, d, _cp(size), _hash(size), size, _hash(size))
        cp.orphan_checkpoint(conn, cp.checkpoint_records(conn, d)[1], "reorg")
    with read_transaction(db) as conn:

        def sizes(start, limit):
            page = cp.anchored_checkpoints_from(conn, start, limit)
            return [a.checkpoint.tree_size for a in page]

        assert sizes(0, 10) == [2, 6, 8]
        assert sizes(0, 2) == [2, 6]
        assert sizes(3, 1) == [6] and sizes(7, 5) == [8] and sizes(9, 5) == []
        assert {a.contract for a in cp.anchored_checkpoints_from(conn, 0, 10)} == {CONTRACT}


def test_recording_the_same_anchor_twice_keeps_one_row(db):
    with write_transaction(db) as conn:
        d = _deploy(conn)
        first = cp.record_checkpoint(conn, d, _cp(3), _hash(10), 5, _hash(11))
        again = cp.record_checkpoint(conn, d, _cp(3), _hash(10), 5, _hash(11))
        assert again.id == first.id
        assert len(cp.checkpoint_records(conn, d)) == 1


def test_a_second_valid_checkpoint_for_one_size_is_refused(db):
    with write_transaction(db) as conn:
        d = _deploy(conn)
        cp.record_checkpoint(conn, d, _cp(3), _hash(10), 5, _hash(11))
        with pytest.raises(AnchoringError, match="already recorded"):
            cp.record_checkpoint(conn, d, _cp(3), _hash(20), 9, _hash(21))


def test_the_database_refuses_two_anchored_rows_for_one_size(db):
    from anchoring.schema import checkpoints

    with write_transaction(db) as conn:
        d = _deploy(conn)
        cp.record_checkpoint(conn, d, _cp(3), _hash(10), 5, _hash(11))
    row = {
        "deployment_id": d.id,
        "tree_size": 3,
        "root": "00" * 32,
        "tx_hash": _hash(20),
        "block_number": 9,
        "block_hash": _hash(21),
        "status": "anchored",
        "recorded_at": cp.utc_now(),
    }
    with pytest.raises(sa.exc.IntegrityError), write_transaction(db) as conn:
        conn.execute(checkpoints.insert().values(**row))


def test_an_orphaned_size_can_be_anchored_again(db):
    with write_transaction(db) as conn:
        d = _deploy(conn)
        old = cp.record_checkpoint(conn, d, _cp(3), _hash(10), 5, _hash(11))
        cp.orphan_checkpoint(conn, old, "block left the canonical chain")
        assert cp.latest_anchored(conn) is None
        cp.record_checkpoint(conn, d, _cp(3), _hash(10), 6, _hash(12))
    with read_transaction(db) as conn:
        records = cp.checkpoint_records(conn, d)
        assert [(r.status, r.anchored.block_hash) for r in records] == [
            ("orphaned", _hash(11)),
            ("anchored", _hash(12)),
        ]
        assert records[0].orphan_reason == "block left the canonical chain"
        assert cp.latest_anchored(conn).block_number == 6


def test_retiring_a_deployment_orphans_its_checkpoints_and_open_transactions(db):
    with write_transaction(db) as conn:
        d = _deploy(conn)
        cp.record_checkpoint(conn, d, _cp(3), _hash(10), 5, _hash(11))
        cp.record_transaction(conn, d, _cp(5), 1, _hash(30), gas_price=7)
        assert cp.retire_deployment(conn, d, "chain was reset") == 1
    with read_transaction(db) as conn:
        assert cp.current_deployment(conn) is None
        assert cp.latest_anchored(conn) is None
        assert [r.status for r in cp.checkpoint_records(conn, d)] == ["orphaned"]
        assert cp.open_transactions(conn, d) == []
        assert cp.all_deployments(conn)[0].retired_reason == "chain was reset"


def test_a_new_deployment_replaces_the_current_one(db):
    with write_transaction(db) as conn:
        first = _deploy(conn)
        cp.record_checkpoint(conn, first, _cp(3), _hash(10), 5, _hash(11))
        second = _deploy(conn, OTHER_CONTRACT)
    with read_transaction(db) as conn:
        assert cp.current_deployment(conn).contract == OTHER_CONTRACT
        assert cp.current_deployment(conn).id == second.id
        assert cp.latest_anchored(conn) is None
        assert cp.all_deployments(conn)[0].retired_at is not None


def test_transactions_are_pending_until_settled(db):
    with write_transaction(db) as conn:
        d = _deploy(conn)
        tx = cp.record_transaction(
            conn,
            d,
            _cp(4),
            2,
            _hash(40),
            max_fee_per_gas=3_000_000_000,
            max_priority_fee_per_gas=10**9,
        )
    with read_transaction(db) as conn:
        (pending,) = cp.open_transactions(conn, d)
        assert (pending.nonce, pending.tx_hash, pending.checkpoint) == (2, _hash(40), _cp(4))
        assert pending.max_fee_per_gas == 3_000_000_000
        assert pending.created_at.tzinfo is not None
    with write_transaction(db) as conn:
        cp.settle_transaction(conn, tx, cp.TX_REPLACED)
        with pytest.raises(ValueError, match="final"):
            cp.settle_transaction(conn, tx, cp.TX_PENDING)
    with read_transaction(db) as conn:
        assert cp.open_transactions(conn, d) == []
        assert [t.status for t in cp.transactions(conn, d)] == ["replaced"]
