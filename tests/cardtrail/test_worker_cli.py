"""``cardtrail worker``: the anchoring worker as its own process, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from apptools import event_leaf

from anchoring import checkpoints as cp
from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.keys import create_keystore
from anchoring.log import MerkleLog
from anchoring.node import free_port, rpc_call, start_anvil
from ledger_service import db

pytestmark = pytest.mark.node

CARDTRAIL = [sys.executable, "-c", "from cardtrail.cli import main; main()"]


@dataclass
class Deployment:
    """A migrated SQLite database, a funded key and the environment of its workers."""

    env: dict[str, str]
    engine: sa.Engine
    logs: Path

    def append(self, count: int) -> int:
        """Append ``count`` events; the log's new size."""
        with write_transaction(self.engine) as conn:
            log = MerkleLog(conn)
            size = log.lock_head()
            log.append([event_leaf(size + i) for i in range(count)])
        return size + count

    def anchored(self) -> int:
        """The size of the latest anchored checkpoint (0: none)."""
        with read_transaction(self.engine) as conn:
            latest = cp.latest_anchored(conn)
        return latest.checkpoint.tree_size if latest else 0


@pytest.fixture
def deployment(tmp_path) -> Iterator[Deployment]:
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
        yield Deployment(env, engine, tmp_path)
        engine.dispose()
    finally:
        node.stop()


def _wait_for(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_worker_alone_anchors_refuses_a_second_and_stops_on_sigterm(deployment):
    deployment.append(3)
    worker = subprocess.Popen(
        CARDTRAIL + ["worker"], env=deployment.env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        # Three events and the worker's CARD_MAP leaf.
        while deployment.anchored() != 4:
            assert worker.poll() is None, worker.stderr.read()
            assert time.monotonic() < deadline, "the worker did not anchor"
            time.sleep(0.2)
        second = subprocess.run(
            CARDTRAIL + ["worker"],
            env=deployment.env,
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


def test_a_standby_worker_waits_then_takes_over_when_the_leader_is_killed(deployment):
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log_path = deployment.logs / f"{name}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                CARDTRAIL + ["worker", *args], env=deployment.env, stderr=log_file
            )
        processes.append(process)
        return process, log_path

    try:
        leader, _ = start("leader")
        deployment.append(3)
        # Three events and the worker's CARD_MAP leaf.
        _wait_for(lambda: deployment.anchored() == 4, "the leader did not anchor")
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
        size = deployment.append(2)
        # The standby anchors the two new events and its own CARD_MAP leaf.
        _wait_for(lambda: deployment.anchored() == size + 1, "the standby did not take over")
        assert "took over the anchoring lock" in standby_log.read_text()
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=30) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
