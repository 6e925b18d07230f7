"""``cardtrail worker``: the anchoring worker as its own process, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from apptools import event_leaf

from anchoring import checkpoints as cp
from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.keys import create_keystore
from anchoring.log import MerkleLog
from anchoring.node import free_port, rpc_call, start_anvil
from ledger_service import db

pytestmark = pytest.mark.node

CARDTRAIL = [sys.executable, "-c", "from cardtrail.cli import main; main()"]


def test_worker_alone_anchors_refuses_a_second_and_stops_on_sigterm(tmp_path):
    node = start_anvil(free_port(), log_path=tmp_path / "anvil.log")
    try:
        keystore = tmp_path / "anchor.json"
        key = create_keystore(keystore, "pw", kdf="pbkdf2", iterations=2)
        rpc_call(node.url, "anvil_setBalance", [key.address, hex(10**21)])
        (tmp_path / "pw").write_text("pw\n")
        url = f"sqlite:///{tmp_path / 'cardtrail.db'}"
        env = {
            **os.environ,
            "CARDTRAIL_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": url,
            "CHAIN_RPC_URL": node.url,
            "ANCHOR_KEYSTORE": str(keystore),
            "CARDTRAIL_PUBLIC_BASE_URL": "http://localhost",
            "ANCHOR_KEYSTORE_PASSWORD_FILE": str(tmp_path / "pw"),
            "ANCHOR_INTERVAL": "0.2",
        }
        engine = create_engine(url)
        db.upgrade(engine)
        with write_transaction(engine) as conn:
            log = MerkleLog(conn)
            log.lock_head()
            log.append([event_leaf(i) for i in range(3)])
        worker = subprocess.Popen(
            CARDTRAIL + ["worker"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with read_transaction(engine) as conn:
                    latest = cp.latest_anchored(conn)
                # Three events and the worker's CARD_MAP leaf.
                if latest is not None and latest.checkpoint.tree_size == 4:
                    break
                assert worker.poll() is None, worker.stderr.read()
                assert time.monotonic() < deadline, "the worker did not anchor"
                time.sleep(0.2)
            second = subprocess.run(
                CARDTRAIL + ["worker"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 1
            assert "another anchoring worker" in second.stderr
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
            assert "anchoring worker stopped" in worker.stderr.read()
        finally:
            if worker.poll() is None:
                worker.kill()
        engine.dispose()
    finally:
        node.stop()
