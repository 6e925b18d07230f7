"""The proof section's measuring parts: the log it builds, the timed queries, the audit."""

from __future__ import annotations

import json
import random

import pytest
import sqlalchemy as sa

from anchoring import merkle
from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_head, log_leaves, log_nodes, metadata
from bench.proofs import append_leaves, event_like, time_audit, time_queries


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    metadata.create_all(engine, tables=[log_head, log_leaves, log_nodes])
    yield engine
    engine.dispose()


def _inputs(engine) -> list[bytes]:
    with read_transaction(engine) as conn:
        rows = conn.execute(sa.select(log_leaves.c.leaf_index, log_leaves.c.leaf_input)).all()
    return [bytes(data) for _, data in sorted(rows)]


def test_event_like_leaves_are_event_sized_json_carrying_their_index():
    leaf = event_like(41)
    assert 400 < len(leaf) < 440
    assert json.loads(leaf)["leaf_index"] == 41
    assert event_like(41) != leaf  # fresh random card and nonce each time


def test_append_leaves_grows_the_log_in_batches_to_the_rfc_9162_tree(engine):
    wall, cpu = append_leaves(engine, 0, 250, batch=100)
    wall2, _ = append_leaves(engine, 250, 300, batch=100)
    inputs = _inputs(engine)
    assert [json.loads(leaf)["leaf_index"] for leaf in inputs] == list(range(300))
    with read_transaction(engine) as conn:
        stored_root = MerkleLog(conn).root()
    assert stored_root == merkle.root([merkle.hash_leaf(leaf) for leaf in inputs])
    assert wall > 0 and cpu > 0 and wall2 > 0


def test_time_queries_times_every_kind_and_checks_each_proof(engine):
    append_leaves(engine, 0, 500, batch=200)
    timer = time_queries(engine, 500, 40, random.Random(3))
    assert set(timer.wall) == set(timer.cpu) == {"inclusion", "consistency", "root"}
    assert all(len(samples) == 40 for samples in timer.wall.values())
    assert all(ms >= 0 for samples in timer.wall.values() for ms in samples)


def test_time_audit_passes_a_fresh_log_and_refuses_a_changed_leaf(engine):
    append_leaves(engine, 0, 300, batch=100)
    wall, cpu = time_audit(engine)
    assert wall > 0 and cpu >= 0
    with write_transaction(engine) as conn:
        conn.execute(
            sa.update(log_leaves).where(log_leaves.c.leaf_index == 7).values(leaf_input=b"forged")
        )
    with pytest.raises(RuntimeError, match="divergence"):
        time_audit(engine)
