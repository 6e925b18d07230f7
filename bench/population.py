"""A deployment with many real cards, anchored on a local anvil: for the lookup and audit.

Built once per benchmark run and shared by the sections that need it: cards issued with
``Ledger.issue_cards`` in batches of 10,000 (the real issuance path: one ISSUED event per
card, in the log and the events table), 1,000 of them (spread over the first 100,000 or
so) also redeemed so that some cards have a second event, then one checkpoint anchored on
anvil by the real anchoring worker — so bundles carry inclusion proofs against a root
that is on chain. The node keeps running until the benchmark run ends (the audit asks it
for ``rootAt``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account

from anchoring.chain import connect, fund_dev_account
from anchoring.db import create_engine, read_transaction
from anchoring.keys import AnchorKey
from anchoring.log import MerkleLog
from anchoring.node import free_port, start_anvil
from anchoring.worker import Worker, WorkerConfig
from bench.common import Config, log
from bench.http import Deployment, prepare
from ledger_service.actor import Actor
from ledger_service.service import MAX_BATCH, Ledger

HQ = Actor("hq", "bench")
REDEEMED = 1_000
"""Cards also redeemed (one by one: a second event, pending or proven, on their pages)."""


@dataclass
class Population:
    """The populated deployment: where it is, a sample of its cards, its chain endpoint."""

    deployment: Deployment
    rpc_url: str
    cards: int
    events: int
    build_s: float
    anchor_s: float
    sample: list[str] = field(default_factory=list)


_BUILT: dict[Path, Population] = {}


def card_spec() -> dict[str, object]:
    """A realistic card: product, value, currency, two stores, an expiry date."""
    return {
        "product": "Moutai Feitian 500ml 53%vol",
        "face_value": 149900,
        "currency": "CNY",
        "allowed_stores": ["S1", "S2"],
        "expires_at": "2027-12-31T23:59:59Z",
    }


def population(cfg: Config) -> Population:
    """The run's populated deployment, built on first use (1M cards; 20,000 when quick)."""
    if cfg.workdir in _BUILT:
        return _BUILT[cfg.workdir]
    count = cfg.size(1_000_000, 20_000)
    data_dir = cfg.workdir / "population"
    deployment = prepare(data_dir, f"sqlite:///{data_dir / 'cardtrail.db'}")
    engine = create_engine(deployment.database_url)
    cfg.resources.callback(engine.dispose)
    ledger = Ledger(engine, deployment.secret_key)
    rng = random.Random(7)
    sample: list[str] = []
    redeemed = 0
    began = time.perf_counter()
    spec = card_spec()
    for start in range(0, count, MAX_BATCH):
        issued = ledger.issue_cards(
            HQ, f"pop-{start}", [spec] * min(MAX_BATCH, count - start), active=True
        )
        for card in issued["cards"]:
            if redeemed < REDEEMED and rng.random() < 0.01:
                redeemed += 1
                ledger.redeem(HQ, card["card_number"], card["redemption_code"], store_id="S1")
            if len(sample) < 10_000 or rng.random() < 0.01:
                sample.append(card["card_number"])
        if start % 100_000 == 0:
            log(f"population: {start + MAX_BATCH:,} of {count:,} cards")
    build_s = time.perf_counter() - began

    node = start_anvil(free_port(), log_path=data_dir / "anvil.log")
    cfg.resources.callback(node.stop)
    w3 = connect(node.url)
    key = AnchorKey(Account.create())
    fund_dev_account(w3, key.address)
    worker = Worker(engine, w3, key, WorkerConfig(interval=0, max_pending=0))
    began = time.perf_counter()
    deadline = time.monotonic() + 120
    while worker.pending_events() > 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not anchor the population within 120 s")
        worker.step()
        time.sleep(0.05)
    anchor_s = time.perf_counter() - began
    with read_transaction(engine) as conn:
        events = MerkleLog(conn).size()
    built = Population(deployment, node.url, count, events, build_s, anchor_s, sample)
    _BUILT[cfg.workdir] = built
    return built
