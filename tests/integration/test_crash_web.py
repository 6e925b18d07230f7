"""The web process SIGKILLed in the middle of a stream of acknowledged writes.

gunicorn runs with the production settings (scripts/load.py, docs/production.md) on a
free port of 127.0.0.1. Client threads issue cards (1–8 per request) and redeem the cards
they were given; once more than 2,000 events were acknowledged, the whole process group
is killed with SIGKILL while requests are still in flight. Then, on the same database:

* every acknowledged event is in the log, at the leaf index its answer gave;
* the log's leaf indices run 0…n-1 without a gap, one events row per leaf;
* the stored tree passes its audit, and its root equals the root recomputed from the
  leaf inputs alone (RFC 9162, in memory);
* a restarted server accepts the next write at leaf index n.

On SQLite and on PostgreSQL. The second test kills the server in a stream of concurrent
single redeems that group commit gathers into shared transactions
(CARDTRAIL_GROUP_COMMIT_MS): each answer is sent only after its group's commit, so the
same holds for every acknowledged redeem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import threading

import sqlalchemy as sa

from anchoring import merkle
from anchoring.db import create_engine, read_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_leaves
from bench import http as gunicorn
from ledger_service.schema import cards, events
from scripts import load

TARGET = 2_000
REDEEM_TARGET = 1_000
REDEEMERS = 24


class Stream:
    """Client threads writing until told to stop; keeps what the server acknowledged."""

    def __init__(self, server: load.Server, tokens: dict[str, str]) -> None:
        self.server = server
        self.tokens = tokens
        self.lock = threading.Lock()
        self.acked: dict[int, tuple[str, str]] = {}  # leaf index → (card number, event type)
        self.unacknowledged = 0
        self.stop = threading.Event()
        self.reached = threading.Event()

    def _ack(self, leaf_index: int, number: str, kind: str) -> None:
        with self.lock:
            self.acked[leaf_index] = (number, kind)
            if len(self.acked) >= TARGET:
                self.reached.set()

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        client = load.Client(self.server.url)
        mine: list[tuple[str, str]] = []
        n = 0
        while not self.stop.is_set():
            n += 1
            key = {"Idempotency-Key": f"crash-{seed}-{n}"}
            try:
                if mine and rng.random() < 0.3:
                    number, code = mine.pop()
                    status, doc = client.request(
                        "POST",
                        f"/api/v1/cards/{number}/redeem",
                        {"redemption_code": code},
                        {"Authorization": f"Bearer {self.tokens['S1']}", **key},
                    )
                    if status == 200:
                        self._ack(doc["leaf_index"], number, "REDEEMED")
                    continue
                batch = [{"product": "Crash tea"}] * rng.randint(1, 8)
                status, doc = client.request(
                    "POST",
                    "/api/v1/cards",
                    {"batch_ref": f"C{seed}-{n}", "cards": batch, "active": True},
                    {"Authorization": f"Bearer {self.tokens['hq']}", **key},
                )
                if status == 201:
                    for card in doc["cards"]:
                        self._ack(card["leaf_index"], card["card_number"], "ISSUED")
                        mine.append((card["card_number"], card["redemption_code"]))
            except (OSError, load.http.client.HTTPException):
                with self.lock:
                    self.unacknowledged += 1
                if self.stop.is_set():
                    return
                client = load.Client(self.server.url)


def _check_log(engine, acked: dict[int, tuple[str, str]]) -> tuple[int, int]:
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        size = log.size()
        stored_root = log.root()
        divergence = log.audit()
        indices = (
            conn.execute(sa.select(log_leaves.c.leaf_index).order_by(log_leaves.c.leaf_index))
            .scalars()
            .all()
        )
        inputs = log.leaf_inputs(range(size))
        event_rows = conn.execute(sa.select(events.c.leaf_index, events.c.card_number)).all()
        salts = dict(conn.execute(sa.select(cards.c.number, cards.c.salt)).all())
    assert divergence is None, divergence
    assert indices == list(range(size)), "leaf indices have a gap"
    assert sorted(r.leaf_index for r in event_rows) == list(range(size)), "events rows ≠ leaves"
    recomputed = merkle.root([merkle.hash_leaf(inputs[i]) for i in range(size)])
    assert recomputed == stored_root, "stored root differs from the root of the leaves"
    lost = []
    for leaf_index, (number, kind) in acked.items():
        event = json.loads(inputs[leaf_index]) if leaf_index in inputs else None
        commitment = (
            hashlib.sha256(bytes(salts[number]) + number.encode()).hexdigest()
            if number in salts
            else None
        )
        if (
            event is None
            or event["type"] != kind
            or event["card"] != commitment
            or event["leaf_index"] != leaf_index
        ):
            lost.append((leaf_index, number, kind))
    assert not lost, f"{len(lost)} acknowledged events lost or changed, e.g. {lost[:3]}"
    return size, len(acked)


def test_acknowledged_writes_survive_sigkill_of_the_web_server(tmp_path, db_url, capsys):
    data_dir = tmp_path / "data"
    server = load.start_server(data_dir, db_url, workers=2, threads=4, log=tmp_path / "g1.log")
    try:
        tokens = load.mint_tokens(data_dir, db_url, ["S1"])
        status, _ = load.Client(server.url).request(
            "POST",
            "/api/v1/stores",
            {"store_id": "S1", "name": "Store 1", "region": "east"},
            {"Authorization": f"Bearer {tokens['hq']}", "Idempotency-Key": "store-S1"},
        )
        assert status == 201
        stream = Stream(server, tokens)
        threads = [threading.Thread(target=stream.run, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        reached = stream.reached.wait(timeout=240)
        server.kill()
    finally:
        stream.stop.set()
        for t in threads:
            t.join(timeout=60)
        if server.process.poll() is None:
            server.kill()
    assert reached, f"only {len(stream.acked)} events acknowledged before the time limit"

    engine = create_engine(db_url)
    try:
        size, acked = _check_log(engine, stream.acked)
    finally:
        engine.dispose()
    with load.serve(data_dir, db_url, workers=2, threads=2, log=tmp_path / "g2.log") as again:
        status, doc = load.Client(again.url).request(
            "POST",
            "/api/v1/cards",
            {"batch_ref": "after", "cards": [{"product": "Tea"}], "active": True},
            {"Authorization": f"Bearer {tokens['hq']}", "Idempotency-Key": "after-restart"},
        )
    assert status == 201 and doc["cards"][0]["leaf_index"] == size
    with capsys.disabled():
        print(
            f"\nweb SIGKILL ({db_url.split(':')[0]}): {acked:,} events acknowledged, "
            f"{size:,} in the log after restart ({size - acked} answered too late to be "
            f"acknowledged), {stream.unacknowledged} requests cut off; none lost, no gap, "
            "root recomputed = stored"
        )


class Redeems:
    """Client threads redeeming cards of a shared pool, one per request, until told to stop."""

    def __init__(self, server: load.Server, token: str, pool: load.Pool) -> None:
        self.server = server
        self.token = token
        self.pool = pool
        self.lock = threading.Lock()
        self.acked: dict[int, tuple[str, str]] = {}
        self.stop = threading.Event()
        self.reached = threading.Event()

    def run(self, seed: int) -> None:
        client = load.Client(self.server.url)
        n = 0
        while not self.stop.is_set():
            card = self.pool.take()
            if card is None:
                return
            number, code = card
            n += 1
            try:
                status, doc = client.request(
                    "POST",
                    f"/api/v1/cards/{number}/redeem",
                    {"redemption_code": code},
                    {"Authorization": f"Bearer {self.token}", "Idempotency-Key": f"g{seed}-{n}"},
                )
            except (OSError, load.http.client.HTTPException):
                if self.stop.is_set():
                    return
                client = load.Client(self.server.url)
                continue
            if status == 200:
                with self.lock:
                    self.acked[doc["leaf_index"]] = (number, "REDEEMED")
                    if len(self.acked) >= REDEEM_TARGET:
                        self.reached.set()


def test_acknowledged_grouped_redeems_survive_sigkill_of_the_web_server(tmp_path, db_url, capsys):
    data_dir = tmp_path / "data"
    grouping = dataclasses.replace(
        load.production_app(),
        env={**load.production_app().env, "CARDTRAIL_GROUP_COMMIT_MS": "5"},
    )
    server = gunicorn.start(grouping, data_dir, db_url, 2, 16, tmp_path / "g1.log")
    redeems: Redeems | None = None
    threads: list[threading.Thread] = []
    try:
        tokens = load.mint_tokens(data_dir, db_url, ["S1"])
        pool = load.prepare(server, tokens, ["S1"], 2 * REDEEM_TARGET)
        redeems = Redeems(server, tokens["S1"], pool)
        threads = [threading.Thread(target=redeems.run, args=(i,)) for i in range(REDEEMERS)]
        for t in threads:
            t.start()
        reached = redeems.reached.wait(timeout=240)
        server.kill()
    finally:
        if redeems is not None:
            redeems.stop.set()
        for t in threads:
            t.join(timeout=60)
        if server.process.poll() is None:
            server.kill()
    assert redeems is not None and reached, "too few redeems acknowledged before the time limit"

    engine = create_engine(db_url)
    try:
        size, acked = _check_log(engine, redeems.acked)
    finally:
        engine.dispose()
    with capsys.disabled():
        print(
            f"\nweb SIGKILL during grouped redeems ({db_url.split(':')[0]}): {acked:,} redeems "
            f"acknowledged, {size:,} events in the log; none lost, no gap, audit clean"
        )
