"""The anchoring worker on an in-process chain (eth-tester), on SQLite and PostgreSQL.

Each fault test checks the three promises: no acknowledged event lost (the log keeps its
size and the newest valid checkpoint covers it), no tree size anchored twice, and the
contract's latest checkpoint equals the log's head.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from apptools import event_leaf
from chainkit import fund, funded_key, inprocess_chain

from anchoring import cardmap
from anchoring import checkpoints as cp
from anchoring.cardmap_leaf import card_heads, parse_map_leaf
from anchoring.cardmap_store import append_card_map
from anchoring.chain import AnchorClient, AnchorReader
from anchoring.db import read_transaction, write_transaction
from anchoring.errors import ChainDiverged, ContractMissing, WorkerBusy
from anchoring.log import MerkleLog
from anchoring.schema import metadata
from anchoring.types import Checkpoint
from anchoring.worker import (
    Worker,
    WorkerConfig,
    WorkerLock,
    backoff_delay,
    confirmed,
    ensure_deployment,
    should_anchor,
    wait_for_lock,
)

NOW = WorkerConfig(interval=0, max_pending=0, confirmations=1)


@pytest.fixture
def db(engine):
    metadata.create_all(engine)
    return engine


@pytest.fixture
def chain():
    tester, w3 = inprocess_chain()
    return tester, w3, funded_key(w3)


def append(engine, count: int) -> int:
    with write_transaction(engine) as conn:
        log = MerkleLog(conn)
        size = log.lock_head()
        log.append([event_leaf(size + i) for i in range(count)])
        return size + count


def log_head(engine) -> Checkpoint:
    with read_transaction(engine) as conn:
        return MerkleLog(conn).checkpoint()


def contract_latest(engine, w3) -> Checkpoint:
    with read_transaction(engine) as conn:
        deployment = cp.current_deployment(conn)
    return AnchorReader(w3, deployment.contract).latest_checkpoint()


def assert_promises_hold(engine, w3) -> None:
    head = log_head(engine)
    assert contract_latest(engine, w3) == head
    with read_transaction(engine) as conn:
        assert cp.latest_anchored(conn).checkpoint == head
        records = cp.checkpoint_records(conn, cp.current_deployment(conn), cp.ANCHORED)
    sizes = [r.tree_size for r in records]
    assert len(sizes) == len(set(sizes)), f"a tree size was anchored twice: {sizes}"


def run_until_idle(worker: Worker, limit: int = 10) -> list[str]:
    actions = []
    for _ in range(limit):
        result = worker.step()
        actions.append(result.action)
        if not result.busy and result.action == "idle":
            return actions
    raise AssertionError(f"worker never went idle: {actions}")


# --- pure decisions ----------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_delay(n, 0.5, 5) for n in range(6)] == [0.5, 0.5, 1, 2, 4, 5]


def test_anchoring_waits_for_the_interval_unless_too_many_events_wait():
    assert not should_anchor(10, 10, 99, interval=1, max_pending=5)
    assert not should_anchor(12, 10, 0.5, interval=1, max_pending=5)
    assert should_anchor(12, 10, 1.0, interval=1, max_pending=5)
    assert should_anchor(15, 10, 0.1, interval=1, max_pending=5)


def test_a_block_is_confirmed_once_enough_blocks_sit_on_it():
    assert confirmed(10, 10, 1)
    assert not confirmed(10, 10, 2)
    assert confirmed(10, 11, 2)


# --- the worker --------------------------------------------------------------------------


def test_first_step_deploys_and_anchors_the_head(db, chain):
    _, w3, key = chain
    append(db, 5)
    worker = Worker(db, w3, key, NOW)
    assert run_until_idle(worker)[0] == "sent"
    assert_promises_hold(db, w3)
    with read_transaction(db) as conn:
        latest = cp.latest_anchored(conn)
        (tx,) = cp.transactions(conn)
    assert latest.chain_id == w3.eth.chain_id
    assert latest.block_hash == "0x" + bytes(w3.eth.get_block(latest.block_number)["hash"]).hex()
    assert (tx.status, tx.tx_hash) == ("mined", latest.tx_hash)


def test_growing_log_is_anchored_with_a_consistency_proof_and_idle_steps_send_nothing(db, chain):
    # Each anchored tree ends with its CARD_MAP leaf: 3 events + 1, then 4 more + 1.
    _, w3, key = chain
    worker = Worker(db, w3, key, NOW)
    append(db, 3)
    run_until_idle(worker)
    append(db, 4)
    run_until_idle(worker)
    assert run_until_idle(worker) == ["idle"]
    assert_promises_hold(db, w3)
    with read_transaction(db) as conn:
        assert [a.checkpoint.tree_size for a in cp.anchored_checkpoints(conn)] == [4, 9]
        assert len(cp.transactions(conn)) == 2


def test_interval_holds_back_a_second_anchor_until_it_passes(db, chain):
    _, w3, key = chain
    clock = [100.0]
    worker = Worker(db, w3, key, WorkerConfig(interval=5, max_pending=0), clock=lambda: clock[0])
    append(db, 2)
    run_until_idle(worker)
    append(db, 1)
    assert run_until_idle(worker) == ["idle"]
    assert contract_latest(db, w3).tree_size == 3  # 2 events and their CARD_MAP leaf
    clock[0] += 5
    run_until_idle(worker)
    assert_promises_hold(db, w3)


def test_worker_killed_between_sending_and_recording_reconciles_on_restart(db, chain):
    _, w3, key = chain
    append(db, 4)
    ensure_deployment(db, w3, key, dev_mode=False)
    doomed = Worker(db, w3, key, NOW)

    class Killed(BaseException):
        pass

    client = doomed._client_for(cp.current_deployment(db.connect()))
    real_send = client.send

    def send_then_die(signed):
        real_send(signed)
        raise Killed

    client.send = send_then_die
    with pytest.raises(Killed):
        doomed.step()
    with read_transaction(db) as conn:
        assert cp.latest_anchored(conn) is None
        assert [t.status for t in cp.transactions(conn)] == ["pending"]

    run_until_idle(Worker(db, w3, key, NOW))
    assert_promises_hold(db, w3)
    with read_transaction(db) as conn:
        assert [t.status for t in cp.transactions(conn)] == ["mined"]


def test_an_anchor_sent_without_any_record_is_found_from_the_contract_events(db, chain):
    _, w3, key = chain
    append(db, 6)
    deployment = ensure_deployment(db, w3, key, dev_mode=False)
    client = AnchorClient(w3, deployment.contract, key)
    head = log_head(db)
    client.send(client.sign_anchor(head, [], client.confirmed_nonce(), client.suggested_fees()))

    assert run_until_idle(Worker(db, w3, key, NOW)) == ["idle"]
    assert_promises_hold(db, w3)
    with read_transaction(db) as conn:
        assert cp.transactions(conn) == []


def test_reorg_orphans_the_checkpoint_and_anchors_it_again(db, chain):
    tester, w3, key = chain
    append(db, 3)
    worker = Worker(db, w3, key, NOW)
    ensure_deployment(db, w3, key, dev_mode=False)
    snapshot = tester.take_snapshot()
    run_until_idle(worker)
    with read_transaction(db) as conn:
        lost = cp.latest_anchored(conn)
    tester.revert_to_snapshot(snapshot)
    tester.mine_blocks(3)  # the other branch grows past the lost block
    append(db, 2)

    run_until_idle(worker)
    assert_promises_hold(db, w3)
    with read_transaction(db) as conn:
        (orphan,) = cp.checkpoint_records(conn, status=cp.ORPHANED)
    assert orphan.anchored == lost
    assert "no longer on the canonical chain" in orphan.orphan_reason


def test_reset_chain_stops_the_worker_outside_development(db, chain):
    _, w3, key = chain
    append(db, 2)
    run_until_idle(Worker(db, w3, key, NOW))
    _, fresh_w3 = inprocess_chain()
    fund(fresh_w3, key.address)
    with pytest.raises(ContractMissing, match="no contract code.*cardtrail deploy --redeploy"):
        Worker(db, fresh_w3, key, NOW).step()
    with read_transaction(db) as conn:
        assert cp.latest_anchored(conn).checkpoint.tree_size == 3


def test_reset_chain_in_development_redeploys_and_marks_the_old_anchors(db, chain):
    _, w3, key = chain
    append(db, 2)
    run_until_idle(Worker(db, w3, key, NOW))
    with read_transaction(db) as conn:
        old = cp.current_deployment(conn)
    _, fresh_w3 = inprocess_chain()
    fund(fresh_w3, key.address)
    append(db, 1)

    run_until_idle(Worker(db, fresh_w3, key, WorkerConfig(interval=0, dev_mode=True)))
    assert_promises_hold(db, fresh_w3)
    with read_transaction(db) as conn:
        assert cp.current_deployment(conn).id != old.id
        assert [r.status for r in cp.checkpoint_records(conn, old)] == ["orphaned"]
        assert "chain reset" in cp.all_deployments(conn)[0].retired_reason


def test_a_contract_checkpoint_that_is_not_a_head_of_the_log_stops_the_worker(db, chain):
    _, w3, key = chain
    append(db, 3)
    deployment = ensure_deployment(db, w3, key, dev_mode=False)
    client = AnchorClient(w3, deployment.contract, key)
    forged = Checkpoint(2, b"\x42" * 32)
    client.send(client.sign_anchor(forged, [], client.confirmed_nonce(), client.suggested_fees()))
    with pytest.raises(ChainDiverged, match="size 2"):
        Worker(db, w3, key, NOW).step()


def test_the_loop_anchors_in_the_background_and_stops_on_request(db, chain):
    _, w3, key = chain
    append(db, 3)
    worker = Worker(db, w3, key, WorkerConfig(interval=0.05, max_pending=0))
    done = threading.Event()
    with worker.running():
        for _ in range(100):
            if worker.pending_events() == 0:
                done.set()
                break
            done.wait(0.05)
    assert done.is_set() and worker.error is None
    assert_promises_hold(db, w3)


def test_only_one_worker_holds_the_lock(db, tmp_path):
    with WorkerLock(db, tmp_path / "w.lock"), pytest.raises(WorkerBusy):
        WorkerLock(db, tmp_path / "w.lock").acquire()
    # Released on exit: the next worker gets it.
    with WorkerLock(db, tmp_path / "w.lock"):
        pass


def test_a_standby_waits_for_the_lock_and_takes_it_when_the_holder_lets_go(db, tmp_path, caplog):
    lock_file = tmp_path / "w.lock"
    holder = WorkerLock(db, lock_file)
    holder.acquire()
    standby = WorkerLock(db, lock_file)
    took: list[bool] = []
    thread = threading.Thread(
        target=lambda: took.append(wait_for_lock(standby, threading.Event(), poll=0.02))
    )
    with caplog.at_level(logging.INFO, logger="cardtrail.anchoring"):
        thread.start()
        deadline = time.monotonic() + 10
        while "standing by" not in caplog.text:
            assert time.monotonic() < deadline, "the standby never said it was waiting"
            time.sleep(0.01)
        assert thread.is_alive() and not took, "the standby must wait, not give up"
        holder.release()
        thread.join(timeout=10)
    assert took == [True]
    assert "took over the anchoring lock" in caplog.text
    with pytest.raises(WorkerBusy):
        WorkerLock(db, lock_file).acquire()
    standby.release()


def test_a_standby_stopped_while_waiting_gives_up_without_the_lock(db, tmp_path):
    lock_file = tmp_path / "w.lock"
    stop = threading.Event()
    stop.set()
    with WorkerLock(db, lock_file):
        assert wait_for_lock(WorkerLock(db, lock_file), stop, poll=0.01) is False
    # It holds nothing: the lock is free again once the holder is gone.
    with WorkerLock(db, lock_file):
        pass


def test_worker_logs_name_transactions_but_never_the_key(db, chain, caplog):
    _, w3, key = chain
    append(db, 2)
    with caplog.at_level(logging.DEBUG):
        run_until_idle(Worker(db, w3, key, NOW))
    secret = key._account.key.hex().removeprefix("0x")
    assert "sent anchor of tree size 3" in caplog.text
    assert secret not in caplog.text.lower()


def test_each_anchored_tree_ends_with_the_card_map_of_the_events_before_it(db, chain):
    _, w3, key = chain
    append(db, 3)
    run_until_idle(Worker(db, w3, key, NOW))
    with read_transaction(db) as conn:
        log = MerkleLog(conn)
        anchored = cp.latest_anchored(conn).checkpoint.tree_size
        leaves = list(log.iter_leaves(0, anchored - 1))
        leaf = parse_map_leaf(log.leaf_input(anchored - 1))
    heads = {k: h.encode() for k, h in card_heads(leaves).items()}
    assert (anchored, leaf["tree_size"], leaf["cards"]) == (4, 3, 3)
    assert leaf["map_root"] == cardmap.map_root(heads).hex()


def test_a_card_map_leaf_appended_before_a_crash_is_anchored_not_repeated(db, chain):
    _, w3, key = chain
    append(db, 2)
    with write_transaction(db) as conn:
        append_card_map(conn, cp.utc_now())  # the worker stopped right after this
    run_until_idle(Worker(db, w3, key, NOW))
    assert_promises_hold(db, w3)
    assert log_head(db).tree_size == 3
