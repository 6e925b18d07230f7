"""Tamper campaign: each way of falsifying the record, against each detector.

A deployment is populated and anchored twice on anvil by the real worker. Each case works
on a copy of its data directory (SQLite database, server secret) and falsifies it the way
an insider with the database, or a lying server, would. Three detectors look:

* ``cardtrail audit`` — the whole database against itself and the chain;
* ``cardtrail verify`` — the bundle the (copied) server now serves for the target card;
* the in-browser check — ``portal/static/verify.js`` under Node on that same bundle,
  asking anvil over JSON-RPC exactly as the card page does.

The strongest forgeries rebuild the whole log consistently — every leaf renumbered, each
card's ``seq``/``prev_event_hash`` chain re-linked, every stored node recomputed, the
events and cards tables and the recorded checkpoint roots rewritten — so that nothing in
the database contradicts anything else; only the chain does. The test prints the table of
case × detector and asserts every cell. A cell is "n/a" only where the detector cannot
see the case by its nature, with the reason.

A lying server can also hand out the genuine bundle of an older checkpoint, leaving out
what came later (a redemption). Both verifiers compare the bundle's checkpoint with the
contract's ``latestCheckpoint()``: within the grace period after the chain moved on it is
a warning, past it a failure (the ``stale-bundle`` row, with anvil's clock moved on).
Or it can drop the card's last event from the newest bundle (``truncated-bundle``): every
proof shown holds, but the card map committed at the end of the anchored tree names a
later head (the check ``complete``, docs/card-map.md). Each anchored tree ends with the
worker's ``CARD_MAP`` leaf, so a consistent forger recomputes those leaves and the stored
card map too.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rfc8785
import sqlalchemy as sa
from click.testing import CliRunner
from eth_account import Account

from anchoring import cardmap, chain, merkle
from anchoring import checkpoints as cp
from anchoring.bundle import FORMAT as BUNDLE_FORMAT
from anchoring.bundle import FRESHNESS_GRACE_SECONDS
from anchoring.cardmap_store import CardMapStore
from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.keys import AnchorKey
from anchoring.log import MerkleLog
from anchoring.node import free_port, rpc_call, start_anvil
from anchoring.schema import (
    card_map_nodes,
    card_map_versions,
    checkpoints,
    log_head,
    log_leaves,
    log_nodes,
)
from anchoring.worker import Worker, WorkerConfig
from cardtrail.app import create_app
from cardtrail.cli import main
from ledger_service.actor import Actor
from ledger_service.config import Settings
from ledger_service.schema import cards, events
from ledger_service.service import Ledger
from portal.bundles import ANCHORED_TOPIC, LATEST_CHECKPOINT_SELECTOR, ROOT_AT_SELECTOR

pytestmark = pytest.mark.node

HQ = Actor("hq", "tok_tamper")
STORE = Actor("store", "tok_tamper_s1", store_id="S1")
JS_RUNNER = Path(__file__).with_name("verify_on_chain.js")
DETECTORS = ("audit", "verify", "verify.js")


def _ms_clock() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Deployment:
    """The populated, anchored original and what the cases need to know about it."""

    root: Path  # holds data/ (secret key) and cardtrail.db
    rpc: str
    target: str  # card number the served bundles are about
    other: str
    sizes: tuple[int, int]  # the two anchored tree sizes
    node_binary: str  # runs verify.js
    chain_id: int  # the issuer both verifiers are pinned to, as the card page is
    contract: str


def _anchor_until(engine, worker: Worker, events: int) -> int:
    """Step the worker until it anchored the log of ``events`` leaves and its CARD_MAP leaf."""
    size = events + 1
    deadline = time.monotonic() + 60
    while True:
        worker.step()
        with read_transaction(engine) as conn:
            latest = cp.latest_anchored(conn)
        if latest is not None and latest.checkpoint.tree_size == size:
            return size
        assert time.monotonic() < deadline, "the worker did not anchor"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def original(tmp_path_factory, node_binary) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("tamper-original")
    node = start_anvil(free_port(), log_path=tmp / "anvil.log")
    try:
        settings = _settings(tmp, node.url)
        app = create_app(settings)
        engine = app.extensions["cardtrail"].engine
        ledger = Ledger(engine, settings.secret_key(), clock=_ms_clock)
        ledger.create_store(HQ, "S1", "Hangzhou West Lake", "east")
        issued = ledger.issue_cards(
            HQ, "B1", [{"product": p} for p in ("tea", "wine", "cake")], active=True
        )
        (a, code_a), (b, _), (c, code_c) = [
            (x["card_number"], x["redemption_code"]) for x in issued["cards"]
        ]
        ledger.claim(HQ, a, "holder-1")
        ledger.claim(HQ, b, "holder-2")
        code_a = ledger.transfer(HQ, a, code_a, "holder-3")["redemption_code"]
        ledger.claim(HQ, c, "holder-4")
        key = AnchorKey(Account.create())
        w3 = chain.connect(node.url)
        chain.fund_dev_account(w3, key.address)
        worker = Worker(engine, w3, key, WorkerConfig(interval=0.0, dev_mode=True))
        with read_transaction(engine) as conn:
            first = _anchor_until(engine, worker, MerkleLog(conn).size())
        ledger.redeem(STORE, a, code_a)
        ledger.redeem(STORE, c, code_c)
        with read_transaction(engine) as conn:
            second = _anchor_until(engine, worker, MerkleLog(conn).size())
        with read_transaction(engine) as conn:
            anchored = cp.latest_anchored(conn)
        assert anchored is not None
        engine.dispose()
        yield Deployment(
            tmp,
            node.url,
            a,
            b,
            (first, second),
            node_binary,
            anchored.chain_id,
            anchored.contract,
        )
    finally:
        node.stop()


def _settings(root: Path, rpc: str) -> Settings:
    return Settings.from_env(
        root / "data",
        environ={
            "DATABASE_URL": f"sqlite:///{root / 'cardtrail.db'}",
            "CHAIN_RPC_URL": rpc,
            "CARDTRAIL_PUBLIC_BASE_URL": "http://localhost",
        },
    )


# --- forging helpers ------------------------------------------------------------------


def _leaves(conn) -> list[dict]:
    log = MerkleLog(conn)
    inputs = log.leaf_inputs(range(log.size()))
    return [json.loads(inputs[i]) for i in range(len(inputs))]


def _is_map_leaf(leaf: dict) -> bool:
    return leaf.get("type") == "CARD_MAP"


def _rebuild(conn, log_events: list[dict]) -> None:
    """Rewrite the whole log as ``log_events`` so that the database agrees with itself.

    CARD_MAP leaves stay where they were (the ends of the anchored trees); the events fill
    the other positions in order, and each map leaf and the stored map are recomputed.
    """
    numbers = {}
    for row in conn.execute(sa.select(cards.c.number, cards.c.salt)):
        numbers[hashlib.sha256(bytes(row.salt) + row.number.encode()).hexdigest()] = row.number
    maps = {i: leaf for i, leaf in enumerate(_leaves(conn)) if _is_map_leaf(leaf)}
    queue = [e for e in log_events if not _is_map_leaf(e)]
    log_events.clear()
    last: dict[str, tuple[int, str]] = {}
    inputs: list[bytes] = []
    memory, changes, versions = cardmap.MemoryCardMap(), {}, []
    while queue or len(inputs) in maps:
        i = len(inputs)
        if i in maps:
            changed = len(changes)
            memory.update(changes)
            versions.append((i, changes))
            changes = {}
            leaf = {**maps[i], "map_root": memory.root.hex(), "cards": memory.size}
            inputs.append(rfc8785.dumps({**leaf, "changed": changed}))
            continue
        event = queue.pop(0)
        seq, prev = last.get(event["card"], (-1, "0" * 64))
        event.update(leaf_index=i, seq=seq + 1, prev_event_hash=prev)
        raw = rfc8785.dumps(event)
        inputs.append(raw)
        log_events.append(event)
        last[event["card"]] = (seq + 1, hashlib.sha256(raw).hexdigest())
        head = cardmap.CardHead(seq + 1, i, merkle.hash_leaf(raw))
        changes[bytes.fromhex(event["card"])] = head.encode()
    for table in (log_leaves, log_nodes, events, card_map_nodes, card_map_versions):
        conn.execute(table.delete())
    for version, changed_heads in versions:
        CardMapStore(conn).update(version, changed_heads)
    conn.execute(log_head.update().values(tree_size=0))
    log = MerkleLog(conn)
    log.lock_head()
    log.append(inputs)
    conn.execute(
        sa.insert(events),
        [
            {
                "leaf_index": e["leaf_index"],
                "card_number": numbers[e["card"]],
                "seq": e["seq"],
                "type": e["type"],
                "store_id": e["store_id"],
                "occurred_at": datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")),
                "recorded_at": datetime.fromisoformat(e["recorded_at"].replace("Z", "+00:00")),
                "actor_role": e["actor"]["role"],
                "actor_id": e["actor"]["id"],
            }
            for e in log_events
        ],
    )
    for card, (seq, last_hash) in last.items():
        conn.execute(
            cards.update()
            .where(cards.c.number == numbers[card])
            .values(seq=seq, last_event_hash=last_hash)
        )
    for record in conn.execute(sa.select(checkpoints.c.id, checkpoints.c.tree_size)).all():
        if record.tree_size <= len(inputs):
            conn.execute(
                checkpoints.update()
                .where(checkpoints.c.id == record.id)
                .values(root=log.root(record.tree_size).hex())
            )


def _commitment(conn, number: str) -> str:
    salt = conn.execute(sa.select(cards.c.salt).where(cards.c.number == number)).scalar_one()
    return hashlib.sha256(bytes(salt) + number.encode()).hexdigest()


def _of(conn, number: str, log_events: list[dict]) -> list[int]:
    mine = _commitment(conn, number)
    return [i for i, e in enumerate(log_events) if e.get("card") == mine]


# --- the cases: each falsifies the copy (conn) and/or the served bundle ----------------


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    database: Callable[[object, Deployment], None] | None = None
    bundle: Callable[[dict, Deployment, Path], dict] | None = None  # (served, d, scratch dir)
    not_applicable: dict[str, str] | None = None
    chain_moves_on: int = 0  # seconds anvil's clock moves on before the detectors look


def flip_bit(conn, d: Deployment) -> None:
    i = _of(conn, d.target, _leaves(conn))[1]
    raw = bytearray(
        conn.execute(
            sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == i)
        ).scalar_one()
    )
    at = raw.index(b'"nonce":"') + len(b'"nonce":"')
    raw[at] ^= 0x01  # one hex digit of the nonce: still valid JSON, one bit different
    conn.execute(
        log_leaves.update().where(log_leaves.c.leaf_index == i).values(leaf_input=bytes(raw))
    )


def delete_event(conn, d: Deployment) -> None:
    log_events = _leaves(conn)
    del log_events[_of(conn, d.target, log_events)[1]]  # the claim: a hidden owner
    # A filler event of another card keeps the tree at the anchored size.
    filler = copy.deepcopy(log_events[_of(conn, d.other, log_events)[-1]])
    filler.update(type="BLOCKED", data={"reason": "filler"}, nonce="cd" * 16)
    log_events.append(filler)
    _rebuild(conn, log_events)


def insert_event(conn, d: Deployment) -> None:
    log_events = _leaves(conn)
    first = _of(conn, d.target, log_events)[0]
    forged = copy.deepcopy(log_events[first])
    forged.update(type="BLOCKED", data={"reason": "forged"}, nonce="ab" * 16)
    log_events.insert(first + 1, forged)
    _rebuild(conn, log_events)


def reorder_two(conn, d: Deployment) -> None:
    log_events = _leaves(conn)
    i = _of(conn, d.target, log_events)[1]
    log_events[i - 1], log_events[i] = log_events[i], log_events[i - 1]
    assert log_events[i]["card"] != log_events[i - 1]["card"], "swap two different cards' events"
    _rebuild(conn, log_events)


def change_node(conn, d: Deployment) -> None:
    log = MerkleLog(conn)
    i = _of(conn, d.target, _leaves(conn))[1]
    proof = log.inclusion_proof(i, d.sizes[1]).hashes
    for level, index, value in conn.execute(
        sa.select(log_nodes.c.level, log_nodes.c.node_index, log_nodes.c.hash)
    ):
        if bytes(value) in proof:
            conn.execute(
                log_nodes.update()
                .where(log_nodes.c.level == level, log_nodes.c.node_index == index)
                .values(hash=hashlib.sha256(b"forged" + bytes(value)).digest())
            )
            return
    raise AssertionError("no stored node on the target's proof path")


def node_as_leaf(conn, d: Deployment) -> None:
    # An internal node's preimage stored as a leaf, with the node's hash as its "leaf hash":
    # a verifier that trusted stored hashes, or hashed without the 0x00/0x01 prefixes,
    # would find every proof intact.
    i = _of(conn, d.target, _leaves(conn))[1]
    sibling = i ^ 1
    leaf_hashes = dict(
        conn.execute(
            sa.select(log_leaves.c.leaf_index, log_leaves.c.leaf_hash).where(
                log_leaves.c.leaf_index.in_([i, sibling])
            )
        ).all()
    )
    left, right = (bytes(leaf_hashes[min(i, sibling)]), bytes(leaf_hashes[max(i, sibling)]))
    conn.execute(
        log_leaves.update()
        .where(log_leaves.c.leaf_index == i)
        .values(leaf_input=left + right, leaf_hash=merkle.hash_children(left, right))
    )


def node_as_leaf_bundle(bundle: dict, d: Deployment, scratch: Path) -> dict:
    # What that server would have to hand a verifier: the node's preimage as the event.
    # A bundle event is a JSON object whose JCS bytes are the leaf, so the closest it can
    # send is the preimage's hex as the event body with the shortened proof.
    item = bundle["events"][1]
    proof = item["inclusion_proof"]
    item["event"] = {"preimage": proof[0]}
    item["leaf_index"] //= 2
    item["inclusion_proof"] = proof[1:]
    return bundle


def older_checkpoint_proofs(bundle: dict, d: Deployment, scratch: Path) -> dict:
    # The newest checkpoint in the header, but the proofs of the older tree.
    older = _served(d, _copy(d, scratch / "older"), tree_size=d.sizes[0])
    for item, old in zip(bundle["events"], older["events"], strict=False):
        item["inclusion_proof"] = old["inclusion_proof"]
    return bundle


def stale_bundle(bundle: dict, d: Deployment, scratch: Path) -> dict:
    # The genuine bundle of the older checkpoint, without what was recorded after it: the
    # target's redemption, anchored since, is gone. Every proof in it is true.
    stale = _served(d, _copy(d, scratch / "stale"), tree_size=d.sizes[0])
    assert stale["checkpoint"]["tree_size"] == d.sizes[0]
    stale["pending"] = []
    assert "REDEEMED" not in [e["event"]["type"] for e in stale["events"]]
    return stale


def second_history(conn, d: Deployment) -> None:
    # Same tree size, another story: the transfer never happened.
    log_events = _leaves(conn)
    i = _of(conn, d.target, log_events)[2]
    log_events[i]["type"] = "BLOCKED"
    log_events[i]["data"] = {"reason": "rewritten"}
    _rebuild(conn, log_events)


def flip_bit_other_card(conn, d: Deployment) -> None:
    flip_bit(conn, dataclasses.replace(d, target=d.other))


def truncated_bundle(bundle: dict, d: Deployment, scratch: Path) -> dict:
    # The newest bundle without the target's redemption (its last anchored event): every
    # inclusion proof and the per-card chain still hold; the card map names the redemption.
    assert bundle["events"][-1]["event"]["type"] == "REDEEMED"
    bundle["events"].pop()
    bundle["pending"] = []
    return bundle


def foreign_contract(bundle: dict, d: Deployment, scratch: Path) -> dict:
    # A look-alike site names a LedgerAnchor of its own choosing: pinned verifiers never
    # ask it, so whatever that contract holds, the issuer check fails first.
    bundle["checkpoint"]["contract"] = "0x" + "5a" * 20
    return bundle


_DB_INTACT = "nothing in the database changed: the lie is only in the answer served"
_OTHER_CARD = (
    "the target card's bundle holds only its own events, and its proofs use the "
    "other card's stored leaf hash, which is intact; that card's own bundle is "
    "caught (flip-bit)"
)
CASES = (
    Case("flip-bit", "one bit of a stored event", database=flip_bit),
    Case("delete-event", "an event removed, log rebuilt consistently", database=delete_event),
    Case(
        "insert-event", "a forged event inserted, log rebuilt consistently", database=insert_event
    ),
    Case("reorder-two", "two events swapped, log rebuilt consistently", database=reorder_two),
    Case("change-node", "a stored node on the card's proof path", database=change_node),
    Case(
        "node-as-leaf",
        "an internal node stored and served as a leaf",
        database=node_as_leaf,
        bundle=node_as_leaf_bundle,
    ),
    Case(
        "older-checkpoint",
        "newest checkpoint served with the older tree's proofs",
        bundle=older_checkpoint_proofs,
        not_applicable={"audit": _DB_INTACT},
    ),
    Case(
        "second-history",
        "another history at the same tree size, rebuilt consistently",
        database=second_history,
    ),
    Case(
        "other-card-row",
        "one bit of an unrelated card's event",
        database=flip_bit_other_card,
        not_applicable={"verify": _OTHER_CARD, "verify.js": _OTHER_CARD},
    ),
    Case(
        "truncated-bundle",
        "the newest bundle with the card's last event (the redemption) left out",
        bundle=truncated_bundle,
        not_applicable={"audit": _DB_INTACT},
    ),
    Case(
        "foreign-contract",
        "a genuine-looking bundle naming another contract than the issuer's",
        bundle=foreign_contract,
        not_applicable={"audit": _DB_INTACT},
    ),
    Case(
        "stale-bundle",
        "the older checkpoint's genuine bundle, the redemption left out, "
        "served after the grace period",
        bundle=stale_bundle,
        not_applicable={"audit": _DB_INTACT},
        chain_moves_on=FRESHNESS_GRACE_SECONDS + 60,
    ),
)


# --- the detectors ----------------------------------------------------------------------


def _served(d: Deployment, root: Path, tree_size: int | None = None) -> dict:
    app = create_app(_settings(root, d.rpc))
    try:
        if tree_size is None:
            response = app.test_client().get(f"/api/v1/public/cards/{d.target}/bundle")
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            return response.get_json()
        # The bundle the server would have served when the older checkpoint was its newest.
        from portal.bundles import load_card

        engine = app.extensions["cardtrail"].engine
        with write_transaction(engine) as conn:
            conn.execute(checkpoints.delete().where(checkpoints.c.tree_size > tree_size))
        return load_card(engine, d.target, "x").bundle
    finally:
        app.extensions["cardtrail"].engine.dispose()


def _audit(d: Deployment, root: Path) -> tuple[bool, str]:
    result = CliRunner().invoke(
        main,
        ["audit", "--data-dir", str(root / "data"), "--rpc", d.rpc],
        env={"DATABASE_URL": f"sqlite:///{root / 'cardtrail.db'}"},
    )
    assert result.exit_code in (0, 1), result.output
    fails = re.findall(r"FAIL\s+([^:\n]+):", result.output)
    return result.exit_code == 1, ", ".join(fails)


def _verify_report(d: Deployment, root: Path, bundle: dict, *options: str) -> tuple[int, dict]:
    path = root / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "verify",
            str(path),
            "--rpc",
            d.rpc,
            "--card",
            d.target,
            "--json",
            "--contract",
            d.contract,
            "--chain-id",
            str(d.chain_id),
            *options,
        ],
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.output)


def _verify(d: Deployment, root: Path, bundle: dict) -> tuple[bool, str]:
    exit_code, report = _verify_report(d, root, bundle)
    return exit_code == 1, ", ".join(c["name"] for c in report["checks"] if not c["ok"])


def _verify_js_report(d: Deployment, root: Path, bundle: dict) -> dict:
    path = root / "bundle-js.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    run = subprocess.run(
        [
            d.node_binary,
            str(JS_RUNNER),
            str(path),
            d.rpc,
            d.target,
            ROOT_AT_SELECTOR,
            LATEST_CHECKPOINT_SELECTOR,
            ANCHORED_TOPIC,
            d.contract,
            str(d.chain_id),
            BUNDLE_FORMAT,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _verify_js(d: Deployment, root: Path, bundle: dict) -> tuple[bool, str]:
    report = _verify_js_report(d, root, bundle)
    return not report["ok"], ", ".join(c["name"] for c in report["checks"] if not c["ok"])


@contextmanager
def _chain_moved_on(d: Deployment, seconds: int) -> Iterator[None]:
    """anvil's clock ``seconds`` later (one block mined there), undone afterwards."""
    if not seconds:
        yield
        return
    snapshot = rpc_call(d.rpc, "evm_snapshot")
    try:
        rpc_call(d.rpc, "evm_increaseTime", [seconds])
        rpc_call(d.rpc, "evm_mine")
        yield
    finally:
        rpc_call(d.rpc, "evm_revert", [snapshot])


def _copy(d: Deployment, dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copytree(d.root / "data", dest / "data")
    shutil.copy2(d.root / "cardtrail.db", dest / "cardtrail.db")
    return dest


def test_untouched_copy_passes_every_detector(original, tmp_path):
    root = _copy(original, tmp_path / "untouched")
    bundle = _served(original, root)
    assert [
        _audit(original, root)[0],
        _verify(original, root, bundle)[0],
        _verify_js(original, root, bundle)[0],
    ] == [False, False, False]


def test_every_tampering_is_detected_by_every_detector(original, tmp_path, capsys):
    rows = []
    missed = []
    for case in CASES:
        root = _copy(original, tmp_path / case.name)
        if case.database:
            engine = create_engine(f"sqlite:///{root / 'cardtrail.db'}")
            with write_transaction(engine) as conn:
                case.database(conn, original)
            engine.dispose()
        if case.bundle:
            clean = _served(original, _copy(original, tmp_path / f"{case.name}-clean"))
            bundle = case.bundle(clean, original, tmp_path / f"{case.name}-scratch")
        else:
            bundle = _served(original, root)
        cells = {}
        with _chain_moved_on(original, case.chain_moves_on):
            for name, detect in (
                ("audit", lambda root=root: _audit(original, root)),
                ("verify", lambda root=root, bundle=bundle: _verify(original, root, bundle)),
                ("verify.js", lambda root=root, bundle=bundle: _verify_js(original, root, bundle)),
            ):
                reason = (case.not_applicable or {}).get(name)
                if reason:
                    caught, why = detect()
                    assert not caught, f"{case.name}/{name} marked n/a but it does detect: {why}"
                    cells[name] = f"n/a ({reason})"
                    continue
                caught, why = detect()
                cells[name] = f"DETECTED ({why})" if caught else "MISSED"
                if not caught:
                    missed.append(f"{case.name}: {name}")
        rows.append((case, cells))
    with capsys.disabled():
        print(f"\ntamper campaign on a copy of a deployment anchored at sizes {original.sizes}:")
        for case, cells in rows:
            print(f"  {case.name:17} {case.what}")
            for name in DETECTORS:
                print(f"      {name:10} {cells[name]}")
    assert not missed, f"not detected: {missed}"


def test_a_stale_bundle_within_the_grace_period_is_a_warning_both_verifiers_show(
    original, tmp_path
):
    """Right after an anchor an honest server may still serve the previous checkpoint, so
    the same stale bundle as the ``stale-bundle`` row, looked at before the grace period
    is over, verifies with a freshness warning that names the newer checkpoint;
    ``cardtrail verify --require-fresh`` fails it."""
    root = _copy(original, tmp_path / "stale-fresh")
    stale = stale_bundle({}, original, tmp_path / "scratch")
    newer = f"size {original.sizes[1]}"
    exit_code, report = _verify_report(original, root, stale)
    assert exit_code == 0 and report["ok"] and report["warnings"] == ["freshness"]
    assert newer in report["checks"][-1]["reason"]
    js = _verify_js_report(original, root, stale)
    assert js["ok"] and js["warnings"] == ["freshness"]
    assert js["checks"][-1]["reason"] == report["checks"][-1]["reason"]
    strict_exit, strict = _verify_report(original, root, stale, "--require-fresh")
    assert strict_exit == 1 and [c["name"] for c in strict["checks"] if not c["ok"]] == [
        "freshness"
    ]
