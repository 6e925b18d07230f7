"""The anchoring worker SIGKILLed at each step of anchoring, then restarted.

A worker subprocess anchors four events and kills itself (SIGKILL) at one step:

=========================  =====================================================
before-record-tx           head signed, the transaction not yet written down
before-send                transaction recorded as pending, not yet sent
after-send                 sent, the process gone before it saw the receipt
before-settle              mined and confirmed, not yet marked mined
before-record-checkpoint   marked mined, CheckpointAnchored not yet recorded
=========================  =====================================================

A fresh worker then runs until idle. Whatever the step: the contract holds exactly one
checkpoint, of the log's head; the database records it exactly once and agrees with the
chain; the key sent exactly one anchor transaction (nonce 2: deploy + one anchor). The
chain engineer's ``test_anchoring.py`` fixtures (nodes behind fault proxies, fresh keys
and databases) are reused, so this runs on anvil and on the Hardhat node.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from nodekit import append, assert_promises_hold

from anchoring import checkpoints as cp
from anchoring.chain import AnchorClient, AnchorReader, connect
from anchoring.db import read_transaction
from anchoring.keys import create_keystore
from anchoring.worker import Worker, WorkerConfig, ensure_deployment

pytestmark = pytest.mark.node

POINTS = (
    "before-record-tx",
    "before-send",
    "after-send",
    "before-settle",
    "before-record-checkpoint",
)

DYING_WORKER = textwrap.dedent(
    """
    import os, signal, sys, time
    from anchoring import checkpoints as cp
    from anchoring.chain import AnchorClient, connect
    from anchoring.db import create_engine
    from anchoring.keys import load_keystore
    from anchoring.worker import Worker, WorkerConfig

    db_url, rpc_url, keystore, point = sys.argv[1:5]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, name, after):
        real = getattr(owner, name)
        def dying(*args, **kwargs):
            if not after:
                die()
            result = real(*args, **kwargs)
            die()
            return result
        setattr(owner, name, dying)

    owner, name, after = {
        "before-record-tx": (cp, "record_transaction", False),
        "before-send": (AnchorClient, "send", False),
        "after-send": (AnchorClient, "send", True),
        "before-settle": (cp, "settle_transaction", False),
        "before-record-checkpoint": (cp, "record_checkpoint", False),
    }[point]
    wrap(owner, name, after)
    worker = Worker(create_engine(db_url), connect(rpc_url), load_keystore(keystore, "pw"),
                    WorkerConfig(interval=0, poll=0.05, confirmations=1))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        worker.step()
        time.sleep(0.05)
    sys.exit(3)
    """
)

RESTART = WorkerConfig(
    interval=0,
    max_pending=0,
    confirmations=1,
    poll=0.05,
    max_backoff=0.5,
    drop_grace=0.5,
    stuck_after=30,
)


def _until_idle(worker: Worker, timeout: float = 30) -> list[str]:
    actions: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = worker.step()
        actions.append(result.action)
        if result.action == "idle":
            return actions
        time.sleep(worker.config.poll)
    raise AssertionError(f"the restarted worker never went idle: {actions}")


def _state(db) -> tuple[list[str], list[int]]:
    with read_transaction(db) as conn:
        deployment = cp.current_deployment(conn)
        txs = [t.status for t in cp.transactions(conn, deployment)]
        sizes = [r.tree_size for r in cp.checkpoint_records(conn, deployment, cp.ANCHORED)]
    return txs, sizes


@pytest.mark.parametrize("point", POINTS)
def test_worker_killed_at_each_step_neither_loses_nor_doubles_a_checkpoint(
    node, db, tmp_path, point, capsys
):
    keystore = tmp_path / "anchor.json"
    key = create_keystore(keystore, "pw", kdf="pbkdf2", iterations=2)
    node.fund(key.address)
    w3 = connect(node.direct_url)
    deployment = ensure_deployment(db, w3, key, dev_mode=False)
    append(db, 4)
    killed = subprocess.run(
        [sys.executable, "-c", DYING_WORKER, str(db.url), node.direct_url, str(keystore), point],
        timeout=120,
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    at_kill = _state(db)

    actions = _until_idle(Worker(db, w3, key, RESTART))
    txs, sizes = _state(db)
    assert sizes == [5], f"checkpoints recorded: {sizes}"  # 4 events and their CARD_MAP leaf
    assert txs.count("mined") == 1, txs
    client = AnchorClient(w3, deployment.contract, key)
    assert client.confirmed_nonce() == 2, "deploy + exactly one anchor transaction"
    reader = AnchorReader(node.direct_url, deployment.contract)
    assert [
        e.checkpoint.tree_size
        for e in client.anchored_events(deployment.block_number, w3.eth.block_number)
    ] == [5]
    assert reader.latest_checkpoint().tree_size == 5
    assert_promises_hold(db, node.direct_url)
    with capsys.disabled():
        print(
            f"\n{node.kind:8} killed {point:25} at kill: txs {at_kill[0]}, checkpoints "
            f"{at_kill[1]} → restarted worker {actions} → txs {txs}, checkpoints {sizes}, "
            "one CheckpointAnchored on chain, nonce 2"
        )
