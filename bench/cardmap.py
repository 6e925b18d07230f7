"""Section 7: the card map (docs/card-map.md) — update, proof, bundle size and gas.

A stored card map of 1,000,000 cards (10,000 with ``--quick``) is built once in a SQLite
file, then measured:

* **update per checkpoint**: writing the next map version for 1,000 changed cards (100
  with ``--quick``; a tenth of them new cards), in one write transaction, commit included
  — what the worker adds to each anchor besides appending one leaf;
* **map proof**: ``CardMapStore.prove`` latency (p50, p99) for random cards, present
  and absent, each in its own read transaction;
* **bundle size**: a version 1 bundle of a card with five events against the same bundle
  as version 2 (the ``CARD_MAP`` leaf, its inclusion proof and the card's map proof);
* **gas per checkpoint**: ``anchor()`` at the log size the map is for, measured as the
  anchoring section does (``bench.anchor_gas``). The contract is unchanged; the map costs
  one more leaf per checkpoint, not gas.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from datetime import UTC, datetime
from typing import Any

from anchoring.cardmap import CardHead
from anchoring.cardmap_leaf import map_leaf_event
from anchoring.cardmap_store import CardMapStore
from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.schema import metadata
from bench import anchor_gas
from bench.common import Config, Section, Stat, Target, latency, log, seconds, spread

UPDATE_TARGET_S = 1.0
PROOF_TARGET_S = 0.010


def _head(rng: random.Random, seq: int, leaf_index: int) -> bytes:
    return CardHead(seq, leaf_index, rng.randbytes(32)).encode()


def _event(card: str, seq: int, leaf_index: int) -> dict[str, Any]:
    """An event shaped like the ledger's (sizes matter here, not meaning)."""
    return {
        "leaf_index": leaf_index,
        "card": card,
        "seq": seq,
        "type": "CLAIMED" if seq else "ISSUED",
        "occurred_at": "2026-11-24T06:17:10.123Z",
        "recorded_at": "2026-11-24T06:17:10.456Z",
        "actor": {"role": "hq", "id": "tok_0123456789abcdef"},
        "store_id": None,
        "data": {"holder_ref": "h_3f9a0c1d"} if seq else {"batch_ref": "B-2026-11"},
        "prev_event_hash": hashlib.sha256(b"prev %d" % seq).hexdigest(),
        "nonce": hashlib.sha256(b"nonce %d" % leaf_index).hexdigest()[:32],
    }


def _bundle_sizes(store: CardMapStore, key: bytes, version: int) -> tuple[int, int]:
    """JSON bytes of a five-event bundle as version 1 and as version 2, at ``version``."""
    tree_size = version + 1
    depth = (tree_size - 1).bit_length()  # an inclusion proof's length, about
    proof = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(depth)]
    card = key.hex()
    events = [
        {"leaf_index": i, "event": _event(card, i, i), "inclusion_proof": proof} for i in range(5)
    ]
    v1 = {
        "format": "cardtrail-bundle/1",
        "card_number": "CT7K2M9Q4X8P3R6WZ",
        "card_salt": "00" * 16,
        "checkpoint": {
            "tree_size": tree_size,
            "root": "ab" * 32,
            "chain_id": 31337,
            "contract": "0x" + "5f" * 20,
            "tx_hash": "0x" + "01" * 32,
            "block_number": 1234567,
        },
        "events": events,
        "pending": [],
    }
    map_proof, _ = store.prove(key, version)
    root = store.version(version)
    assert root is not None
    stamp = datetime(2026, 11, 24, 6, 17, 10, tzinfo=UTC)
    v2 = {
        **v1,
        "format": "cardtrail-bundle/2",
        "card_map": {
            "leaf_index": version,
            "event": map_leaf_event(version, root.root, root.cards, root.changed, stamp),
            "inclusion_proof": proof,
            "proof": map_proof.to_json(),
        },
    }
    return len(json.dumps(v1)), len(json.dumps(v2))


def run(cfg: Config) -> Section:
    """Build the map, then measure updates, proofs, bundle sizes and gas."""
    cards = cfg.size(1_000_000, 10_000)
    changed = cfg.size(1_000, 100)
    probes = cfg.size(2_000, 200)
    rng = random.Random(20261202)
    engine = create_engine(f"sqlite:///{cfg.workdir / 'cardmap.db'}")
    metadata.create_all(engine)
    keys = [rng.randbytes(32) for _ in range(cards)]
    log(f"cardmap: building a map of {cards:,} cards")
    began = time.perf_counter()
    version = cards  # as if each card had one event, then the CARD_MAP leaf
    with write_transaction(engine) as conn:
        CardMapStore(conn).update(version, {k: _head(rng, 0, i) for i, k in enumerate(keys)})
    build_s = time.perf_counter() - began
    log(f"cardmap: built in {build_s:.1f} s")

    walls, cpus = [], []
    for _ in range(cfg.runs + 1):
        moved = rng.sample(keys, changed - changed // 10)
        fresh = [rng.randbytes(32) for _ in range(changed // 10)]
        keys += fresh
        start = version + 1
        changes = {k: _head(rng, 1, start + i) for i, k in enumerate(moved + fresh)}
        version = start + len(changes)
        began, began_cpu = time.perf_counter(), time.process_time()
        with write_transaction(engine) as conn:
            CardMapStore(conn).update(version, changes)
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - began_cpu)
    update = Stat.of(walls[1:])  # the first run warms the page cache
    update_cpu = Stat.of(cpus[1:])

    samples = []
    absent = [rng.randbytes(32) for _ in range(probes // 10)]
    for key in rng.sample(keys, probes - len(absent)) + absent:
        began = time.perf_counter()
        with read_transaction(engine) as conn:
            CardMapStore(conn).prove(key, version)
        samples.append(time.perf_counter() - began)
    proof_latency = latency(samples)
    with read_transaction(engine) as conn:
        store = CardMapStore(conn)
        v1_bytes, v2_bytes = _bundle_sizes(store, keys[0], version)
        depth = len(store.prove(keys[0], version)[0].siblings)
    engine.dispose()
    (gas,) = anchor_gas.measure([version + 1])

    figures = {
        "cards": len(keys),
        "changed_per_checkpoint": changed,
        "build_s": round(build_s, 1),
        "update_s": update.to_json(),
        "update_cpu_s": update_cpu.to_json(),
        "proof_s": proof_latency,
        "proof_depth": depth,
        "bundle_bytes": {"v1": v1_bytes, "v2": v2_bytes},
        "anchor_gas": {"tree_size": gas.tree_size, "gas_used": gas.gas_used},
    }
    table = (
        ["figure", "value"],
        [
            [f"build the map of {cards:,} cards (once)", seconds(build_s)],
            [f"update: {changed:,} changed cards, one version", spread(update, seconds)],
            ["the same update, CPU time of this process", spread(update_cpu, seconds)],
            [
                f"map proof among {len(keys):,} cards: p50 / p99",
                f"{seconds(proof_latency['p50'])} / {seconds(proof_latency['p99'])}",
            ],
            ["map proof depth (siblings, one card)", str(depth)],
            ["bundle of 5 events, v1 → v2", f"{v1_bytes:,} → {v2_bytes:,} bytes"],
            [f"anchor() gas at tree size {gas.tree_size:,}", f"{gas.gas_used:,}"],
        ],
    )
    targets = [
        Target(
            f"card map update per checkpoint ({changed:,} of {len(keys):,} cards)",
            seconds(update.median),
            f"≤ {seconds(UPDATE_TARGET_S)}",
            update.median <= UPDATE_TARGET_S,
            f"{seconds(update_cpu.median)} CPU",
        ),
        Target(
            f"card map proof p99 ({len(keys):,} cards)",
            seconds(proof_latency["p99"]),
            f"≤ {seconds(PROOF_TARGET_S)}",
            proof_latency["p99"] <= PROOF_TARGET_S,
        ),
    ]
    notes = [
        "SQLite file on local disk; each update is one write transaction with its commit.",
        "Gas is unchanged by the card map: the contract anchors a size and a root as "
        "before; each checkpoint's tree holds one more leaf (its CARD_MAP leaf).",
    ]
    if cfg.quick:
        notes.insert(0, f"--quick: {cards:,} cards and {changed:,} changed per checkpoint.")
    return Section("cardmap", "7. Card map", [table], targets, notes, figures)
