"""``cardtrail worker``: the anchoring worker as its own process, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _wait_for(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_standby_worker_waits_then_takes_over_when_the_leader_is_killed(tmp_path):
    node = start_anvil(free_port(), log_path=tmp_path / "anvil.log")
    processes: list[subprocess.Popen] = []
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

        def start(name: str, *args: str) -> tuple[subprocess.Popen, Path]:
            log_path = tmp_path / f"{name}.log"
            with open(log_path, "wb") as log_file:
                process = subprocess.Popen(CARDTRAIL + ["worker", *args], env=env, stderr=log_file)
            processes.append(process)
            return process, log_path

        def anchored() -> int:
            with read_transaction(engine) as conn:
                latest = cp.latest_anchored(conn)
            return latest.checkpoint.tree_size if latest else 0

        def append(count: int) -> int:
            with write_transaction(engine) as conn:
                log = MerkleLog(conn)
                size = log.lock_head()
                log.append([event_leaf(size + i) for i in range(count)])
            return size + count

        leader, _ = start("leader")
        append(3)
        _wait_for(lambda: anchored() == 4, "the leader did not anchor")  # + its CARD_MAP leaf
        standby, standby_log = start("standby", "--standby")
        _wait_for(lambda: "standing by" in standby_log.read_text(), "no standby message")
        assert standby.poll() is None, "a standby must wait, not exit"

        # A third one, stopped while it stands by, leaves quietly.
        third, third_log = start("third", "--standby")
        _wait_for(lambda: "standing by" in third_log.read_text(), "no standby message")
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=30) == 0
        assert "stopped while standing by" in third_log.read_text()

        leader.kill()
        leader.wait(timeout=30)
        size = append(2)
        # The standby anchors the two new events and its own CARD_MAP leaf.
        _wait_for(lambda: anchored() == size + 1, "the standby did not take over")
        assert "took over the anchoring lock" in standby_log.read_text()
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=30) == 0
        engine.dispose()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        node.stop()
