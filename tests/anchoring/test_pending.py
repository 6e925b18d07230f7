"""Held appends (MerkleLog.deferring): the same log as immediate appends, savepoints undo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from anchoring import merkle
from anchoring.db import read_transaction, write_transaction
from anchoring.errors import LogIntegrityError, TreeSizeError
from anchoring.log import MerkleLog
from anchoring.pending import pending_on
from anchoring.schema import log_head, log_leaves, log_nodes, metadata


@pytest.fixture
def log_engine(engine: sa.Engine) -> Iterator[sa.Engine]:
    """The test's engine with the log's tables, holding three leaves."""
    metadata.create_all(engine, tables=[log_head, log_leaves, log_nodes])
    with write_transaction(engine) as conn:
        MerkleLog(conn).append([b"a", b"b", b"c"])
    yield engine


def _stored(engine: sa.Engine) -> tuple[int, bytes, list[bytes]]:
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        size = log.size()
        assert log.audit() is None
        inputs = list(log.leaf_inputs(range(size)).values())
        return size, log.root(), inputs


def _reference(inputs: list[bytes]) -> bytes:
    return merkle.root([merkle.hash_leaf(data) for data in inputs])


def test_held_appends_write_the_log_immediate_appends_would(log_engine):
    with write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        with log.deferring():
            assert log.append([b"d"]) == 3
            assert MerkleLog(conn).lock_head() == 4  # another command of the group
            assert MerkleLog(conn).append([b"e", b"f"]) == 4
            stored = conn.execute(sa.select(sa.func.count()).select_from(log_leaves))
            assert stored.scalar_one() == 3  # nothing written yet
        assert pending_on(conn) is None

    size, root, inputs = _stored(log_engine)
    assert size == 6
    assert inputs == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert root == _reference(inputs)


def test_a_savepoint_rolled_back_takes_back_its_leaves(log_engine):
    with write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        with log.deferring():
            log.append([b"d"])
            with pytest.raises(RuntimeError), conn.begin_nested():
                assert log.append([b"refused"]) == 4
                with conn.begin_nested():  # released into the failing one: goes too
                    log.append([b"inner"])
                raise RuntimeError("the command fails after logging its event")
            with conn.begin_nested():
                assert log.append([b"e"]) == 4  # the next command gets the freed index

    size, _, inputs = _stored(log_engine)
    assert size == 5 and inputs == [b"a", b"b", b"c", b"d", b"e"]


def test_an_inner_savepoint_rolled_back_keeps_the_outer_ones_leaves(log_engine):
    with write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        with log.deferring(), conn.begin_nested():
            log.append([b"d"])
            inner = conn.begin_nested()
            log.append([b"gone"])
            inner.rollback()
            log.append([b"e"])

    _, _, inputs = _stored(log_engine)
    assert inputs == [b"a", b"b", b"c", b"d", b"e"]


def test_an_error_inside_writes_nothing(log_engine):
    with pytest.raises(ValueError), write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        with log.deferring():
            log.append([b"d"])
            raise ValueError("the group fails")

    size, _, _ = _stored(log_engine)
    assert size == 3


def test_held_leaves_can_be_read_back_in_their_transaction(log_engine):
    with write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        with log.deferring():
            log.append([b"d", b"e"])
            assert log.size() == 5
            assert log.leaf_input(3) == b"d"
            assert log.leaf_inputs([1, 4]) == {1: b"b", 4: b"e"}
            with pytest.raises(TreeSizeError):
                log.leaf_input(5)


def test_a_transaction_holds_its_appends_once(log_engine):
    with write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        with log.deferring(), pytest.raises(RuntimeError, match="already holds"):
            with log.deferring():
                pass


def test_a_held_append_still_checks_its_inputs(log_engine):
    with write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        with log.deferring(), pytest.raises(TypeError):
            log.append(["not bytes"])  # type: ignore[list-item]


def test_a_damaged_store_is_still_reported_after_held_leaves_are_written(log_engine):
    with write_transaction(log_engine) as conn:
        conn.execute(sa.delete(log_leaves).where(log_leaves.c.leaf_index == 1))
        log = MerkleLog(conn)
        with log.deferring():
            log.append([b"d"])
        with pytest.raises(LogIntegrityError):
            log.leaf_input(1)
