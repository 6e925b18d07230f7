"""``cardtrail up`` and ``cardtrail deploy`` run as a user runs them: as processes."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nodekit import append, wait_until

from anchoring import checkpoints as cp
from anchoring.chain import AnchorReader
from anchoring.db import create_engine, read_transaction
from anchoring.keys import create_keystore
from anchoring.node import free_port

pytestmark = pytest.mark.node

CARDTRAIL = [sys.executable, "-m", "cardtrail.cli"]


class Up:
    """A running ``cardtrail up`` whose output is read line by line."""

    def __init__(self, data_dir: Path, port: int, chain_port: int) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CHAIN_", "ANCHOR_", "DATABASE_"))
        }
        env.update(ANCHOR_INTERVAL="0.3", PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from cardtrail.cli import main; main()",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--chain-port",
                str(chain_port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        try:
            while True:
                if text in self.lines.get(timeout=timeout):
                    return
        except queue.Empty:
            self.process.kill()
            raise AssertionError(
                f"no {text!r} from cardtrail up:\n{''.join(self.output)}"
            ) from None

    def ctrl_c(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def _anchored_size(engine) -> int:
    with read_transaction(engine) as conn:
        latest = cp.latest_anchored(conn)
    return latest.checkpoint.tree_size if latest else 0


def _records(engine):
    with read_transaction(engine) as conn:
        return cp.current_deployment(conn), cp.anchored_checkpoints(conn)


def test_up_anchors_events_and_a_second_up_shows_the_same_checkpoints_on_the_same_chain(tmp_path):
    data_dir = tmp_path / "data"
    port, chain_port = free_port(), free_port()
    up = Up(data_dir, port, chain_port)
    up.wait_for("Press Ctrl-C")
    assert f"  web app    http://127.0.0.1:{port}/\n" in up.output  # links name this server
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.status == 200
    engine = create_engine(f"sqlite:///{data_dir / 'cardtrail.db'}")
    try:
        for batch in (4, 3):
            size = append(engine, batch)
            # The anchored tree ends with the worker's CARD_MAP leaf after the batch.
            assert wait_until(lambda size=size: _anchored_size(engine) == size + 1, 5)
        deployment, before = _records(engine)
        # The development issuer descriptor names the deployment up has just made.
        well_known = f"http://127.0.0.1:{port}/.well-known/cardtrail-issuer.json"
        with urllib.request.urlopen(well_known, timeout=10) as response:
            issuer = json.loads(response.read())
        assert (issuer["chain_id"], issuer["contract"]) == (
            deployment.chain_id,
            deployment.contract,
        )
        assert issuer["deployment_block"] == deployment.block_number
        assert up.ctrl_c() == 0
        assert "CardTrail stopped." in "".join(up.output)
        assert (data_dir / "chain" / "anvil-state.json").exists()

        again = Up(data_dir, port, chain_port)
        again.wait_for("Press Ctrl-C")
        after_deployment, after = _records(engine)
        assert after_deployment.id == deployment.id
        assert after == before
        reader = AnchorReader(f"http://127.0.0.1:{chain_port}", deployment.contract)
        assert reader.latest_checkpoint() == before[-1].checkpoint
        assert all(reader.block_hash(a.block_number) == a.block_hash for a in after)
        assert again.ctrl_c() == 0
    finally:
        engine.dispose()
    output = "".join(up.output + again.output)
    secret = (data_dir / "anchor-keystore.password").read_text().strip()
    assert secret not in output


def test_up_refuses_a_chain_port_in_use_with_a_clear_message(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from cardtrail.cli import main; main()",
                "up",
                "--data-dir",
                str(tmp_path),
                "--port",
                str(free_port()),
                "--chain-port",
                str(busy.getsockname()[1]),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "CHAIN_RPC_URL"},
        )
    assert result.returncode != 0
    assert "already in use" in result.stderr and "--chain-port" in result.stderr


def test_deploy_records_the_contract_once_and_grants_the_anchorer_role(node, tmp_path):
    keystore = tmp_path / "anchor.json"
    password_file = tmp_path / "anchor.password"
    password_file.write_text("pw\n")
    key = create_keystore(keystore, "pw", kdf="pbkdf2", iterations=2)
    node.fund(key.address)
    other = "0x" + "42" * 20
    env = dict(
        os.environ,
        CHAIN_RPC_URL=node.direct_url,
        CARDTRAIL_PUBLIC_BASE_URL="http://localhost",
        ANCHOR_KEYSTORE=str(keystore),
        ANCHOR_KEYSTORE_PASSWORD_FILE=str(password_file),
        CARDTRAIL_DATA_DIR=str(tmp_path / "d"),
    )
    env.pop("DATABASE_URL", None)
    cli = [sys.executable, "-c", "from cardtrail.cli import main; main()", "deploy"]

    first = subprocess.run(
        [*cli, "--grant", other], check=False, capture_output=True, text=True, env=env, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert "deployed LedgerAnchor at" in first.stdout
    second = subprocess.run(cli, check=False, capture_output=True, text=True, env=env, timeout=120)
    assert "already deployed" in second.stdout

    engine = create_engine(f"sqlite:///{tmp_path / 'd' / 'cardtrail.db'}")
    with read_transaction(engine) as conn:
        (deployment,) = cp.all_deployments(conn)
    engine.dispose()
    assert deployment.contract in first.stdout and deployment.deployer == key.address
    reader = AnchorReader(node.direct_url, deployment.contract)
    assert reader.has_anchorer_role(key.address) and reader.has_anchorer_role(other)

    no_key = {k: v for k, v in env.items() if not k.startswith("ANCHOR_KEYSTORE")}
    refused = subprocess.run(
        cli, check=False, capture_output=True, text=True, env=no_key, timeout=120
    )
    assert refused.returncode != 0 and "ANCHOR_KEYSTORE must" in refused.stderr
