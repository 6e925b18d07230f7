"""The stored log against the in-memory reference of anchoring.merkle, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchoring import merkle
from anchoring.db import read_transaction, write_transaction
from anchoring.errors import Error, LogIntegrityError, TreeSizeError
from anchoring.log import LogDivergence, MerkleLog
from anchoring.schema import log_head, log_leaves, log_nodes, metadata

LOG_TABLES = [log_head, log_leaves, log_nodes]

# The engine fixture lives for the whole test; each example empties the tables itself.
db_settings = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def log_engine(engine: sa.Engine) -> Iterator[sa.Engine]:
    """The test's engine with the log's tables, empty."""
    metadata.create_all(engine, tables=LOG_TABLES)
    yield engine


def _empty(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        for table in LOG_TABLES:
            conn.execute(sa.delete(table))


def _inputs(start: int, count: int, tag: bytes = b"") -> list[bytes]:
    return [b"event %d %s" % (i, tag) for i in range(start, start + count)]


def _append(engine: sa.Engine, inputs: list[bytes]) -> int:
    with write_transaction(engine) as conn:
        log = MerkleLog(conn)
        log.lock_head()
        return log.append(inputs)


def _build(engine: sa.Engine, batches: list[int]) -> list[bytes]:
    """Append ``batches`` (sizes) one transaction each; return the reference leaf hashes."""
    inputs: list[bytes] = []
    for count in batches:
        batch = _inputs(len(inputs), count)
        assert _append(engine, batch) == len(inputs)
        inputs += batch
    return [merkle.hash_leaf(data) for data in inputs]


# --- appending and proving, against the reference ------------------------------------


@db_settings
@given(batches=st.lists(st.integers(0, 40), max_size=5), data=st.data())
def test_any_batch_split_gives_the_reference_tree(log_engine, batches, data):
    _empty(log_engine)
    leaves = _build(log_engine, batches)
    n = len(leaves)
    with read_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        assert log.size() == n
        for size in range(n + 1):
            assert log.root(size) == merkle.root(leaves[:size])
        assert log.root() == merkle.root(leaves)
        if n:
            index = data.draw(st.integers(0, n - 1), label="leaf")
            size = data.draw(st.integers(index + 1, n), label="tree size")
            proof = log.inclusion_proof(index, size)
            assert list(proof.hashes) == merkle.inclusion_proof(leaves[:size], index)
            assert proof.leaf_hash == leaves[index]
            merkle.verify_inclusion(index, size, leaves[index], proof.hashes, log.root(size))
            size1 = data.draw(st.integers(1, n), label="size1")
            size2 = data.draw(st.integers(size1, n), label="size2")
            consistency = log.consistency_proof(size1, size2)
            if size1 < size2:
                assert list(consistency.hashes) == merkle.consistency_proof(leaves[:size2], size1)
            else:
                assert consistency.hashes == ()
            merkle.verify_consistency(
                size1, size2, log.root(size1), log.root(size2), consistency.hashes
            )


@pytest.fixture
def built(log_engine) -> tuple[sa.Engine, list[bytes]]:
    """A log of 300 leaves appended in uneven batches, and its reference leaf hashes."""
    return log_engine, _build(log_engine, [1, 2, 5, 64, 100, 3, 125])


@db_settings
@given(data=st.data())
def test_every_inclusion_proof_matches_the_reference_and_verifies(built, data):
    engine, leaves = built
    size = data.draw(st.integers(1, len(leaves)), label="tree size")
    index = data.draw(st.integers(0, size - 1), label="leaf")
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        proof = log.inclusion_proof(index, size)
        root = log.root(size)
    assert list(proof.hashes) == merkle.inclusion_proof(leaves[:size], index)
    assert root == merkle.root(leaves[:size])
    proof.verify(root)
    merkle.verify_inclusion(index, size, leaves[index], proof.hashes, root)


@db_settings
@given(data=st.data())
def test_batched_inclusion_proofs_match_the_reference(built, data):
    engine, leaves = built
    size = data.draw(st.integers(1, len(leaves)), label="tree size")
    indices = data.draw(st.lists(st.integers(0, size - 1), max_size=12), label="leaves")
    with read_transaction(engine) as conn:
        proofs = MerkleLog(conn).inclusion_proofs(indices, size)
    assert sorted(proofs) == sorted(set(indices))
    for index, proof in proofs.items():
        assert (proof.leaf_index, proof.tree_size) == (index, size)
        assert proof.leaf_hash == leaves[index]
        assert list(proof.hashes) == merkle.inclusion_proof(leaves[:size], index)


def test_batched_inclusion_proofs_refuse_a_leaf_outside_the_tree(built):
    engine, _ = built
    with read_transaction(engine) as conn, pytest.raises(TreeSizeError, match="outside"):
        MerkleLog(conn).inclusion_proofs([0, 10], 10)


@db_settings
@given(data=st.data())
def test_every_consistency_proof_matches_the_reference_and_verifies(built, data):
    engine, leaves = built
    size2 = data.draw(st.integers(2, len(leaves)), label="size2")
    size1 = data.draw(st.integers(1, size2 - 1), label="size1")
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        proof = log.consistency_proof(size1, size2)
        root1, root2 = log.root(size1), log.root(size2)
    assert list(proof.hashes) == merkle.consistency_proof(leaves[:size2], size1)
    proof.verify(root1, root2)
    merkle.verify_consistency(size1, size2, root1, root2, proof.hashes)


def test_past_roots_stay_the_same_after_later_appends(built):
    engine, leaves = built
    with read_transaction(engine) as conn:
        before = {size: MerkleLog(conn).root(size) for size in (1, 7, 64, 200, 300)}
    _append(engine, _inputs(300, 77, b"later"))
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        assert {size: log.root(size) for size in before} == before
        assert log.size() == 377
        assert log.checkpoint(64).root == merkle.root(leaves[:64])
        assert log.checkpoint().tree_size == 377


def test_empty_log_has_size_zero_and_the_empty_root(log_engine):
    with read_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        assert log.size() == 0
        assert log.root() == merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()
    with write_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        assert log.lock_head() == 0
        assert log.append([]) == 0
        assert log.lock_head() == 0


def test_a_proof_is_one_query(built):
    engine, _ = built
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            log.inclusion_proof(123, 299)
            inclusion = len(statements)
            log.consistency_proof(37, 299)
            consistency = len(statements) - inclusion
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    assert (inclusion, consistency) == (1, 1)


def test_leaves_read_back_as_appended(built):
    engine, leaves = built
    inputs = _inputs(0, len(leaves))
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        assert log.leaf_input(0) == inputs[0]
        assert log.leaf_input(299) == inputs[299]
        assert log.leaf_inputs([5, 250, 5]) == {5: inputs[5], 250: inputs[250]}
        rows = list(log.iter_leaves(3, 290, batch=7))
    assert [i for i, _, _ in rows] == list(range(3, 290))
    assert [(d, h) for _, d, h in rows] == list(zip(inputs[3:290], leaves[3:290], strict=True))


# --- bad sizes and indices -------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda log: log.root(301), r"tree size 301 is not in \[0, 300\]"),
        (lambda log: log.root(-1), r"tree size -1 is not in \[0, 300\]"),
        (lambda log: log.root(True), r"tree size must be an integer, got bool"),
        (lambda log: log.checkpoint(400), r"tree size 400 is not in \[0, 300\]"),
        (lambda log: log.inclusion_proof(5, 5), r"leaf index 5 is outside a tree of size 5"),
        (lambda log: log.inclusion_proof(-1, 5), r"leaf index -1 is outside a tree of size 5"),
        (lambda log: log.inclusion_proof(0, 301), r"tree size 301 is beyond the log's size 300"),
        (lambda log: log.inclusion_proof("1", 5), r"leaf index must be an integer, got str"),
        (lambda log: log.consistency_proof(0, 5), r"no consistency proof exists from size 0"),
        (lambda log: log.consistency_proof(6, 5), r"from size 6 to size 5"),
        (lambda log: log.consistency_proof(5, 301), r"tree size 301 is beyond the log's size 300"),
        (lambda log: log.consistency_proof(301, 301), r"tree size 301 is not in \[0, 300\]"),
        (lambda log: log.leaf_input(300), r"leaf index 300 is not in \[0, 300\)"),
        (lambda log: log.leaf_input(-3), r"leaf index -3 is not in \[0, 300\)"),
        (lambda log: log.leaf_inputs([1, 300]), r"leaf index 300 is not in \[0, 300\)"),
        (lambda log: list(log.iter_leaves(0, 301)), r"tree size 301 is not in \[0, 300\]"),
        (lambda log: list(log.iter_leaves(10, 5)), r"start 10 is not in \[0, 5\]"),
    ],
)
def test_bad_sizes_and_indices_are_refused_clearly(built, call, message):
    engine, _ = built
    with (
        read_transaction(engine) as conn,
        pytest.raises(TreeSizeError, match=message) as caught,
    ):
        call(MerkleLog(conn))
    assert isinstance(caught.value, Error) and isinstance(caught.value, ValueError)


def test_a_leaf_input_that_is_not_bytes_is_refused_and_nothing_is_written(built):
    engine, _ = built
    with pytest.raises(TypeError, match="leaf input 1 must be bytes, got str"):
        _append(engine, [b"fine", "not bytes"])  # type: ignore[list-item]
    with read_transaction(engine) as conn:
        assert MerkleLog(conn).size() == 300


def test_a_missing_node_is_reported_as_damage_not_as_a_bad_size(built):
    engine, _ = built
    with write_transaction(engine) as conn:
        conn.execute(sa.delete(log_nodes).where(log_nodes.c.level == 8))
    with (
        read_transaction(engine) as conn,
        pytest.raises(LogIntegrityError, match="level 8, index 0"),
    ):
        MerkleLog(conn).root(300)


# --- concurrent writers ----------------------------------------------------------------


def test_concurrent_appenders_leave_no_gaps_and_no_duplicates(log_engine):
    threads, rounds, per_round = 4, 6, 5

    def writer(worker: int) -> list[int]:
        firsts = []
        for r in range(rounds):
            batch = [b"w%d r%d n%d" % (worker, r, n) for n in range(per_round)]
            firsts.append(_append(log_engine, batch))
        return firsts

    with ThreadPoolExecutor(threads) as pool:
        runs = [pool.submit(writer, w) for w in range(threads)]
    # result() re-raises a writer's exception here, in the test's own thread.
    firsts = [first for run in runs for first in run.result()]
    total = threads * rounds * per_round
    assert sorted(firsts) == list(range(0, total, per_round))
    with read_transaction(log_engine) as conn:
        log = MerkleLog(conn)
        rows = list(log.iter_leaves())
        assert log.size() == total
        assert [i for i, _, _ in rows] == list(range(total))
        assert len({d for _, d, _ in rows}) == total
        # Each batch landed contiguously, in its own order.
        for first in firsts:
            batch = [d for _, d, _ in rows[first : first + per_round]]
            stem = batch[0][: batch[0].rindex(b"n")]
            assert batch == [stem + b"n%d" % n for n in range(per_round)]
        assert log.root() == merkle.root([h for _, _, h in rows])
        assert log.audit() is None


# --- audit -------------------------------------------------------------------------------


def _flip(value: bytes, at: int = 0) -> bytes:
    return value[:at] + bytes([value[at] ^ 0x01]) + value[at + 1 :]


def test_audit_of_an_intact_log_finds_nothing_and_reports_progress(built):
    engine, leaves = built
    seen: list[int] = []
    with read_transaction(engine) as conn:
        assert MerkleLog(conn).audit(seen.append, batch=64) is None
    assert sum(seen) == len(leaves) and len(seen) == 5


def test_audit_finds_a_flipped_byte_in_a_leaf_input(built):
    engine, leaves = built
    where = log_leaves.c.leaf_index == 137
    with write_transaction(engine) as conn:
        old = conn.execute(sa.select(log_leaves.c.leaf_input).where(where)).scalar_one()
        conn.execute(sa.update(log_leaves).where(where).values(leaf_input=_flip(old, 3)))
    with read_transaction(engine) as conn:
        found = MerkleLog(conn).audit()
    assert found == LogDivergence("leaf", 0, 137, leaves[137], merkle.hash_leaf(_flip(old, 3)))


def test_audit_finds_a_flipped_byte_in_a_leaf_hash(built):
    engine, leaves = built
    where = log_leaves.c.leaf_index == 299
    with write_transaction(engine) as conn:
        conn.execute(sa.update(log_leaves).where(where).values(leaf_hash=_flip(leaves[299], 31)))
    with read_transaction(engine) as conn:
        found = MerkleLog(conn).audit()
    assert found == LogDivergence("leaf", 0, 299, _flip(leaves[299], 31), leaves[299])


def test_audit_finds_a_flipped_byte_in_an_interior_node(built):
    engine, leaves = built
    where = (log_nodes.c.level == 3) & (log_nodes.c.node_index == 20)
    with write_transaction(engine) as conn:
        good = conn.execute(sa.select(log_nodes.c.hash).where(where)).scalar_one()
        conn.execute(sa.update(log_nodes).where(where).values(hash=_flip(good, 7)))
    assert good == merkle.root(leaves[160:168])
    with read_transaction(engine) as conn:
        found = MerkleLog(conn).audit()
    assert found == LogDivergence("node", 3, 20, _flip(good, 7), good)


def test_audit_finds_a_missing_node(built):
    engine, leaves = built
    where = (log_nodes.c.level == 1) & (log_nodes.c.node_index == 149)
    with write_transaction(engine) as conn:
        conn.execute(sa.delete(log_nodes).where(where))
    with read_transaction(engine) as conn:
        found = MerkleLog(conn).audit()
    assert found == LogDivergence("missing", 1, 149, None, merkle.root(leaves[298:300]))
