"""``cardtrail verify`` against a real node (anvil) on bundles the portal serves: it accepts
each one, and rejects each kind of tampering with the right reason."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from eth_account import Account

from anchoring import chain, checkpoints
from anchoring.db import read_transaction
from anchoring.keys import AnchorKey
from anchoring.node import free_port, start_anvil
from anchoring.worker import Worker, WorkerConfig
from cardtrail.app import create_app
from cardtrail.cli import main
from ledger_service.actor import Actor
from ledger_service.config import Settings
from ledger_service.service import Ledger

pytestmark = pytest.mark.node

HQ = Actor("hq", "tok_onchain")


def _ms_clock() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict]:
    """Two cards anchored on anvil by the worker, a newer pending event, and their bundles."""
    tmp = tmp_path_factory.mktemp("onchain")
    node = start_anvil(free_port(), log_path=tmp / "anvil.log")
    try:
        settings = Settings.from_env(
            tmp / "data",
            environ={
                "DATABASE_URL": f"sqlite:///{tmp / 'cardtrail.db'}",
                "CHAIN_RPC_URL": node.url,
                "CARDTRAIL_PUBLIC_BASE_URL": "http://localhost",
            },
        )
        app = create_app(settings)
        rt = app.extensions["cardtrail"]
        ledger = Ledger(rt.engine, rt.secret_key, clock=_ms_clock)
        ledger.create_store(HQ, "S1", "Hangzhou West Lake", "east")
        issued = ledger.issue_cards(
            HQ, "B1", [{"product": "tea"}, {"product": "wine"}], active=True
        )["cards"]
        a, b = issued[0]["card_number"], issued[1]["card_number"]
        ledger.claim(HQ, a, "holder-1")
        ledger.transfer(HQ, a, issued[0]["redemption_code"], "holder-2")
        key = AnchorKey(Account.create())
        w3 = chain.connect(node.url)
        chain.fund_dev_account(w3, key.address)
        worker = Worker(rt.engine, w3, key, WorkerConfig(interval=0.0, dev_mode=True))
        deadline = time.monotonic() + 60
        while True:
            worker.step()
            with read_transaction(rt.engine) as conn:
                latest = checkpoints.latest_anchored(conn)
            # 4 events and the worker's CARD_MAP leaf.
            if latest is not None and latest.checkpoint.tree_size == 5:
                break
            assert time.monotonic() < deadline, "the worker did not anchor the log"
            time.sleep(0.1)
        ledger.block(HQ, a, "reported lost")  # recorded after the checkpoint: pending
        client = app.test_client()
        yield {
            "rpc": node.url,
            "a": a,
            "b": b,
            "bundle_a": client.get(f"/api/v1/public/cards/{a}/bundle").json,
            "bundle_b": client.get(f"/api/v1/public/cards/{b}/bundle").json,
            "tmp": tmp,
        }
        rt.engine.dispose()
    finally:
        node.stop()


def _verify(served, bundle: dict, card: str) -> tuple[int, dict]:
    path = served["tmp"] / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["verify", str(path), "--rpc", served["rpc"], "--card", card, "--json"]
    )
    return result.exit_code, json.loads(result.output)


def _failed(report: dict) -> list[str]:
    return [c["name"] for c in report["checks"] if not c["ok"]]


def test_served_bundles_verify_on_chain(served):
    for card, bundle in ((served["a"], served["bundle_a"]), (served["b"], served["bundle_b"])):
        code, report = _verify(served, bundle, card)
        assert code == 0 and report["ok"], report
    assert [e["event"]["type"] for e in served["bundle_a"]["pending"]] == ["BLOCKED"]
    assert served["bundle_a"]["format"] == "cardtrail-bundle/2"


def _changed_event_field(b):
    b["events"][1]["event"]["data"]["holder"] = "0" * 32
    return b


def _swapped_proof_hash(b):
    proof = b["events"][0]["inclusion_proof"]
    proof[0], proof[1] = proof[1], proof[0]
    return b


def _wrong_checkpoint_root(b):
    b["checkpoint"]["root"] = "ab" * 32
    return b


def _removed_middle_event(b):
    del b["events"][1]
    return b


def _removed_last_event(b):
    # Every proof shown still holds, and so does the chain: only the card map tells.
    del b["events"][-1]
    b["pending"] = []
    return b


@pytest.mark.parametrize(
    ("tamper", "check", "reason"),
    [
        (_changed_event_field, "inclusion[2]", "calculated root"),
        (_swapped_proof_hash, "inclusion[0]", "calculated root"),
        (_wrong_checkpoint_root, "anchor", "contract holds root"),
        (_removed_middle_event, "chain", "seq 1 is missing"),
        (_removed_last_event, "complete", "later events were left out"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_tampered_bundle_is_rejected_with_the_reason(served, tamper, check, reason):
    bundle = served["bundle_a"]
    assert [e["leaf_index"] for e in bundle["events"]] == [0, 2, 3]
    code, report = _verify(served, tamper(copy.deepcopy(bundle)), served["a"])
    found = {c["name"]: c for c in report["checks"]}
    assert code == 1 and not found[check]["ok"], report
    assert reason in found[check]["reason"]


def test_bundle_of_another_card_is_rejected(served):
    code, report = _verify(served, served["bundle_b"], served["a"])
    assert code == 1 and _failed(report) == ["card"]
