"""The anchoring worker against real nodes (anvil and Hardhat), one injected fault per test.

Every test ends with the same three checks (``assert_promises_hold``): no acknowledged event
lost, no tree size anchored twice, and the contract's latest checkpoint equals the log head.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from nodekit import append, assert_promises_hold, wait_until

from anchoring import checkpoints as cp
from anchoring.chain import AnchorClient, connect
from anchoring.db import read_transaction
from anchoring.errors import ContractMissing
from anchoring.keys import create_keystore
from anchoring.worker import Worker, WorkerConfig, ensure_deployment

pytestmark = pytest.mark.node

FAST = WorkerConfig(
    interval=0.2,
    max_pending=0,
    confirmations=1,
    poll=0.05,
    max_backoff=0.5,
    drop_grace=0.5,
    stuck_after=30,
)
NOW = dataclasses.replace(FAST, interval=0)


def anchored_size(engine) -> int:
    with read_transaction(engine) as conn:
        latest = cp.latest_anchored(conn)
    return latest.checkpoint.tree_size if latest else 0


def anchored_sizes(engine) -> list[int]:
    with read_transaction(engine) as conn:
        return [a.checkpoint.tree_size for a in cp.anchored_checkpoints(conn)]


def transactions(engine) -> list[cp.AnchorTransaction]:
    with read_transaction(engine) as conn:
        return cp.transactions(conn)


def step_until_idle(worker: Worker, timeout: float = 15) -> list[str]:
    actions: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = worker.step()
        actions.append(result.action)
        if result.action == "idle":
            return actions
        time.sleep(worker.config.poll)
    raise AssertionError(f"worker never went idle: {actions}")


def test_appended_events_are_anchored_within_seconds(node, key, db):
    worker = Worker(db, connect(node.proxy.url), key, FAST)
    with worker.running():
        for batch in (3, 1, 5):
            size = append(db, batch)
            # The anchored tree ends with the CARD_MAP leaf appended after the batch.
            assert wait_until(lambda size=size: anchored_size(db) == size + 1, 5), (
                f"{size} not anchored"
            )
    assert worker.error is None
    assert_promises_hold(db, node.direct_url)


@pytest.mark.parametrize("fault", ["down", "error"])
def test_node_away_keeps_accepting_events_and_anchors_the_backlog_in_one_checkpoint(
    node, key, db, fault
):
    worker = Worker(db, connect(node.proxy.url), key, FAST)
    append(db, 2)
    with worker.running():
        assert wait_until(lambda: anchored_size(db) == 3, 10)  # with its CARD_MAP leaf
        node.proxy.mode = fault
        sizes = [append(db, n) for n in (3, 4, 5)]  # acknowledged while the node is away
        time.sleep(1.2)
        assert anchored_size(db) == 3
        assert worker.error is None
        node.proxy.mode = "pass"
        assert wait_until(lambda: anchored_size(db) == sizes[-1] + 1, 10)
    assert anchored_sizes(db) == [3, 16]
    assert_promises_hold(db, node.direct_url)


def test_transaction_lost_on_the_way_is_resent_with_the_same_nonce_and_a_higher_fee(node, key, db):
    w3 = connect(node.proxy.url)
    ensure_deployment(db, w3, key, dev_mode=False)
    append(db, 4)
    worker = Worker(db, w3, key, NOW)
    node.proxy.mode = "drop_send"
    assert worker.step().action == "sent"
    node.proxy.mode = "pass"
    step_until_idle(worker)

    first, second = transactions(db)
    assert first.tx_hash in node.proxy.swallowed
    assert (first.status, second.status) == ("replaced", "mined")
    assert first.nonce == second.nonce
    assert _price(second) > _price(first)
    assert_promises_hold(db, node.direct_url)


def test_transaction_dropped_by_the_node_is_sent_again(node, key, db):
    w3 = connect(node.direct_url)
    ensure_deployment(db, w3, key, dev_mode=False)
    append(db, 4)
    worker = Worker(db, w3, key, NOW)
    node.automine(False)
    sent = worker.step()
    node.vendor("dropTransaction", sent.detail)
    time.sleep(NOW.drop_grace)
    assert worker.step().action == "resent"
    node.automine(True)
    node.mine()
    step_until_idle(worker)

    first, second = transactions(db)
    assert (first.status, second.status, first.nonce) == ("replaced", "mined", second.nonce)
    assert_promises_hold(db, node.direct_url)


def test_stuck_transaction_is_replaced_with_the_same_nonce_and_a_higher_fee(node, key, db):
    w3 = connect(node.direct_url)
    ensure_deployment(db, w3, key, dev_mode=False)
    append(db, 4)
    worker = Worker(db, w3, key, dataclasses.replace(NOW, stuck_after=0.5))
    node.automine(False)
    assert worker.step().action == "sent"
    assert worker.step().action == "waiting"
    time.sleep(0.6)
    assert worker.step().action == "resent"
    node.mine()
    node.automine(True)
    step_until_idle(worker)

    first, second = transactions(db)
    assert (first.status, second.status, first.nonce) == ("replaced", "mined", second.nonce)
    assert _price(second) > _price(first)
    assert (
        AnchorClient(w3, cp.current_deployment(db.connect()).contract, key).receipt(first.tx_hash)
        is None
    )
    assert_promises_hold(db, node.direct_url)


def test_reorg_orphans_the_checkpoint_and_it_is_anchored_again(node, key, db):
    w3 = connect(node.direct_url)
    ensure_deployment(db, w3, key, dev_mode=False)
    worker = Worker(db, w3, key, NOW)
    append(db, 3)
    snapshot = node.rpc("evm_snapshot")
    step_until_idle(worker)
    with read_transaction(db) as conn:
        lost = cp.latest_anchored(conn)
    assert node.rpc("evm_revert", snapshot) is True
    node.mine(3)  # the other branch grows past the lost block
    append(db, 2)
    step_until_idle(worker)

    with read_transaction(db) as conn:
        orphans = cp.checkpoint_records(conn, status=cp.ORPHANED)
    assert [o.anchored for o in orphans] == [lost]
    assert_promises_hold(db, node.direct_url)


KILLED_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    from anchoring.chain import connect
    from anchoring.db import create_engine
    from anchoring.keys import load_keystore
    from anchoring.worker import Worker, WorkerConfig

    db_url, rpc_url, keystore = sys.argv[1:4]
    worker = Worker(create_engine(db_url), connect(rpc_url), load_keystore(keystore, "pw"),
                    WorkerConfig(interval=0))
    deployment_client = worker._client_for
    def client_for(deployment):
        client = deployment_client(deployment)
        real_send = client.send
        def send_then_die(signed):
            real_send(signed)
            os.kill(os.getpid(), signal.SIGKILL)
        client.send = send_then_die
        return client
    worker._client_for = client_for
    worker.step()
    """
)


def test_worker_killed_between_sending_and_recording_reconciles_on_restart(node, db, tmp_path):
    keystore = tmp_path / "anchor.json"
    key = create_keystore(keystore, "pw", kdf="pbkdf2", iterations=2)
    node.fund(key.address)
    w3 = connect(node.direct_url)
    deployment = ensure_deployment(db, w3, key, dev_mode=False)
    append(db, 4)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, str(db.url), node.direct_url, str(keystore)],
        timeout=60,
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert anchored_size(db) == 0
    assert [t.status for t in transactions(db)] == ["pending"]

    step_until_idle(Worker(db, w3, key, NOW))
    assert [t.status for t in transactions(db)] == ["mined"]
    client = AnchorClient(w3, deployment.contract, key)
    assert client.confirmed_nonce() == 2, "deploy + exactly one anchor"
    assert_promises_hold(db, node.direct_url)


def test_reset_chain_stops_the_worker_with_a_clear_error(node, key, db):
    w3 = connect(node.direct_url)
    append(db, 2)
    step_until_idle(Worker(db, w3, key, NOW))
    node.vendor("reset")
    node.fund(key.address)
    with pytest.raises(ContractMissing, match="no contract code .*cardtrail deploy --redeploy"):
        Worker(db, w3, key, NOW).step()
    assert anchored_size(db) == 3


def test_reset_chain_in_development_redeploys_and_marks_the_old_anchors(node, key, db):
    w3 = connect(node.direct_url)
    append(db, 2)
    step_until_idle(Worker(db, w3, key, NOW))
    with read_transaction(db) as conn:
        old = cp.current_deployment(conn)
    node.vendor("reset")
    node.fund(key.address)
    append(db, 3)
    step_until_idle(Worker(db, w3, key, dataclasses.replace(NOW, dev_mode=True)))

    with read_transaction(db) as conn:
        assert cp.current_deployment(conn).id != old.id
        assert [r.status for r in cp.checkpoint_records(conn, old)] == ["orphaned"]
    assert anchored_sizes(db) == [7]  # 2 events, a CARD_MAP leaf, 3 events, another
    assert_promises_hold(db, node.direct_url)


def _price(tx: cp.AnchorTransaction) -> int:
    return tx.max_fee_per_gas if tx.max_fee_per_gas is not None else tx.gas_price
