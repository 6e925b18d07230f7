"""``cardtrail monitor`` against a live deployment: a real node, the anchoring worker and
the web app serving its public routes over HTTP; then a leaf doctored in the database."""

from __future__ import annotations

import json
import threading
import time

import pytest
import rfc8785
import sqlalchemy as sa
from click.testing import CliRunner
from werkzeug.serving import make_server

from anchoring import checkpoints
from anchoring.chain import connect
from anchoring.db import read_transaction, write_transaction
from anchoring.monitor_cli import monitor_command
from anchoring.schema import log_leaves
from anchoring.worker import Worker, WorkerConfig, deploy_contract
from cardtrail.app import create_app
from ledger_service.actor import Actor
from ledger_service.config import Settings
from ledger_service.runtime import runtime_of

pytestmark = pytest.mark.node

HQ = Actor("hq", "tok_hq_monitor")
NOW = WorkerConfig(
    interval=0,
    max_pending=0,
    confirmations=1,
    poll=0.05,
    max_backoff=0.5,
    drop_grace=0.5,
    stuck_after=30,
)


class Deployment:
    """The web app on a free port, its ledger, its worker and its contract."""

    def __init__(self, node, key, tmp_path) -> None:
        environ = {
            "CHAIN_RPC_URL": node.direct_url,
            "CARDTRAIL_PUBLIC_BASE_URL": "http://127.0.0.1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cardtrail.db'}",
        }
        settings = Settings.from_env(tmp_path / "data", environ=environ)
        # The monitor reads many pages quickly: no per-client budget in the way.
        self.app = create_app(settings, {"TESTING": True, "PUBLIC_RATE_LIMIT_PER_IP": None})
        self.runtime = runtime_of(self.app)
        w3 = connect(node.direct_url)
        self.contract = deploy_contract(self.runtime.engine, w3, key).contract
        self.worker = Worker(self.runtime.engine, w3, key, NOW)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.api = f"http://127.0.0.1:{self.server.server_port}"

    def issue_and_anchor(self, count: int) -> int:
        """Issue ``count`` cards and anchor them; the anchored tree size."""
        specs = [{"product": f"Moutai 53% 500ml #{i}"} for i in range(count)]
        self.runtime.ledger.issue_cards(HQ, "B-MONITOR", specs, active=True)
        deadline = time.monotonic() + 15
        while self.worker.step().action != "idle":
            assert time.monotonic() < deadline, "the worker never went idle"
            time.sleep(NOW.poll)
        with read_transaction(self.runtime.engine) as conn:
            latest = checkpoints.latest_anchored(conn)
        assert latest is not None
        return latest.checkpoint.tree_size

    def close(self) -> None:
        self.server.shutdown()
        self.runtime.engine.dispose()


@pytest.fixture
def deployment(node, key, tmp_path):
    running = Deployment(node, key, tmp_path)
    yield running
    running.close()


def monitor(deployment, node, *extra: str):
    args = ["--api", deployment.api, "--rpc", node.direct_url, "--contract", deployment.contract]
    return CliRunner().invoke(monitor_command, [*args, "--quiet", *extra])


def test_monitor_follows_a_live_deployment_and_resumes_from_its_state(deployment, node, tmp_path):
    state = tmp_path / "monitor.json"
    deployment.issue_and_anchor(3)
    size = deployment.issue_and_anchor(2)
    first = monitor(deployment, node, "--state", str(state))
    assert first.exit_code == 0, first.output
    assert f"OK  2 checkpoint(s) hold; tree size {size}" in first.output
    size = deployment.issue_and_anchor(4)
    second = monitor(deployment, node, "--state", str(state))
    assert second.exit_code == 0, second.output
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert saved["tree_size"] == size and saved["checkpoints"] == 3
    # The card map replayed up to that size is saved beside it, for the next run to resume.
    assert state.with_name(saved["card_map"]["file"]).stat().st_size > 9 * 80


def test_monitor_reports_a_leaf_doctored_after_it_was_anchored(deployment, node):
    first = deployment.issue_and_anchor(3)
    second = deployment.issue_and_anchor(3)
    # The server's database is edited: a leaf of the second checkpoint now tells another
    # story than the one anchored (its type, its own position unchanged).
    with write_transaction(deployment.runtime.engine) as conn:
        original = bytes(
            conn.execute(
                sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == first)
            ).scalar_one()
        )
        doctored = original.replace(b'"type":"ISSUED"', b'"type":"VOIDED"')
        assert doctored != original
        conn.execute(
            sa.update(log_leaves)
            .where(log_leaves.c.leaf_index == first)
            .values(leaf_input=doctored)
        )
    result = monitor(deployment, node)
    assert result.exit_code == 1, result.output
    assert f"checked up to size {first}, then:" in result.output
    assert "DIVERGENCE" in result.output
    # The changed event changes its card's head, so the map leaf closing that tree no
    # longer holds the map of the events before it; without the map, the root gives it away.
    assert (
        f"CARD_MAP leaf {second - 1}: map_root" in result.output
        or f"a leaf in [{first}, {second}) was changed" in result.output
    )


def test_monitor_reports_a_doctored_card_map_leaf(deployment, node):
    deployment.issue_and_anchor(2)
    size = deployment.issue_and_anchor(2)
    map_leaf = size - 1
    with write_transaction(deployment.runtime.engine) as conn:
        original = bytes(
            conn.execute(
                sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == map_leaf)
            ).scalar_one()
        )
        doctored = json.loads(original)
        assert doctored["type"] == "CARD_MAP"
        doctored["map_root"] = "00" * 32
        conn.execute(
            sa.update(log_leaves)
            .where(log_leaves.c.leaf_index == map_leaf)
            .values(leaf_input=rfc8785.dumps(doctored))
        )
    result = monitor(deployment, node)
    assert result.exit_code == 1, result.output
    assert f"CARD_MAP leaf {map_leaf}: map_root is '{'00' * 32}'" in result.output


def test_monitor_that_cannot_reach_the_api_says_so(deployment, node):
    deployment.issue_and_anchor(1)
    deployment.server.shutdown()
    deployment.server.server_close()
    result = monitor(deployment, node)
    assert result.exit_code == 3 and "could not check" in result.output
