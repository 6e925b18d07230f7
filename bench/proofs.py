"""Section 2: inclusion and consistency proof latency on SQLite, CardTrail beside pymerkle.

CardTrail: a log of event-sized leaves (:func:`event_like`) appended with
``MerkleLog.append`` in transactions of 10,000 (:func:`append_leaves`) to 1M leaves,
measured, then grown to 10M and measured again. At each size, :func:`time_queries` times
random inclusion and consistency proofs and roots (random tree size, random leaf, each
proof checked against its root outside the timed call), and the stored tree's own audit
(``MerkleLog.audit``: every leaf and node re-hashed) is timed once over the whole log.

pymerkle: its ``SqliteTree`` gets the same kind of leaves with ``append_entries`` and the
same random queries through ``prove_inclusion`` / ``prove_consistency``, each timed with
its warm subroot cache. It is slow to build and to prove at these sizes, so it gets a time
budget for building and one for proving; the table says what size it reached and how many
proofs fitted.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_head, log_leaves, log_nodes, metadata
from bench.common import Config, Section, Stat, Target, latency, log, per_second, ratio

_MS = 1e3
APPEND_BATCH = 10_000
T = TypeVar("T")


def event_like(index: int) -> bytes:
    """About 420 bytes shaped like a CardTrail event's canonical JSON."""
    return (
        b'{"actor":{"id":"store-042","role":"store"},"card":"%s","data":{"mode":"store"},'
        b'"leaf_index":%d,"nonce":"%s","occurred_at":"2026-11-24T06:17:10.123Z",'
        b'"prev_event_hash":"%s","recorded_at":"2026-11-24T06:17:10.123Z","seq":1,'
        b'"store_id":"store-042","type":"REDEEMED"}'
    ) % (os.urandom(32).hex().encode(), index, os.urandom(16).hex().encode(), b"0" * 64)


def append_leaves(
    engine: Engine, start: int, end: int, batch: int = APPEND_BATCH
) -> tuple[float, float]:
    """Append leaves ``[start, end)`` in write transactions of ``batch``.

    Returns the wall and CPU (this thread) seconds spent in the transactions: making the
    inputs is not counted.
    """
    wall = cpu = 0.0
    for first in range(start, end, batch):
        inputs = [event_like(i) for i in range(first, min(first + batch, end))]
        began, began_cpu = time.perf_counter(), time.thread_time()
        with write_transaction(engine) as conn:
            log_ = MerkleLog(conn)
            log_.lock_head()
            log_.append(inputs)
        wall += time.perf_counter() - began
        cpu += time.thread_time() - began_cpu
    return wall, cpu


class Timer:
    """Wall-clock and CPU (this thread) milliseconds of each timed call, per kind."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def __call__(self, kind: str, call: Callable[[], T]) -> T:
        """Run ``call`` once, record its times under ``kind`` and return its result."""
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        result = call()
        self.cpu.setdefault(kind, []).append((time.thread_time_ns() - cpu) / 1e6)
        self.wall.setdefault(kind, []).append((time.perf_counter_ns() - wall) / 1e6)
        return result


def time_queries(engine: Engine, leaves: int, queries: int, rng: random.Random) -> Timer:
    """Time ``queries`` random inclusion proofs, consistency proofs and roots of a log of
    ``leaves`` leaves; check each proof against its root outside the timed calls."""
    timer = Timer()
    with read_transaction(engine) as conn:
        log_ = MerkleLog(conn)
        for _ in range(queries):
            size = rng.randint(2, leaves)
            index = rng.randrange(size)
            size1 = rng.randint(1, size - 1)
            proof = timer("inclusion", partial(log_.inclusion_proof, index, size))
            consistency = timer("consistency", partial(log_.consistency_proof, size1, size))
            root = timer("root", partial(log_.root, size))
            proof.verify(root)
            consistency.verify(log_.root(size1), root)
    return timer


def time_audit(engine: Engine) -> tuple[float, float]:
    """Wall and CPU (this thread) seconds of ``MerkleLog.audit`` over the whole log.

    Raises RuntimeError if the audit finds a divergence: the log was only ever appended to.
    """
    with read_transaction(engine) as conn:
        began, began_cpu = time.perf_counter(), time.thread_time()
        divergence = MerkleLog(conn).audit()
        wall, cpu = time.perf_counter() - began, time.thread_time() - began_cpu
    if divergence is not None:
        raise RuntimeError(f"the audit found a divergence in a fresh log: {divergence}")
    return wall, cpu


def _rounds(samples: list[float], runs: int) -> dict[str, Any]:
    """p50 and p99 of each of ``runs`` consecutive rounds, summarised across rounds."""
    size = max(1, len(samples) // runs)
    chunks = [samples[i : i + size] for i in range(0, size * runs, size) if samples[i : i + size]]
    per_round = [latency(chunk) for chunk in chunks]
    return {
        "p50_ms": Stat.of([r["p50"] for r in per_round]).to_json(),
        "p99_ms": Stat.of([r["p99"] for r in per_round]).to_json(),
        "all": latency(samples),
    }


def _cardtrail(cfg: Config, sizes: list[int], queries: int) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'log.db'}")
        metadata.create_all(engine, tables=[log_head, log_leaves, log_nodes])
        built = 0
        try:
            for n in sizes:
                log(f"proofs: CardTrail log to {n:,} leaves")
                began = time.perf_counter()
                append_wall, append_cpu = append_leaves(engine, built, n)
                build_s = time.perf_counter() - began
                appended, built = n - built, n
                time_queries(engine, n, min(200, queries), random.Random(1))  # warm-up
                timer = time_queries(engine, n, queries, random.Random(9162 + n))
                log(f"proofs: auditing the {n:,}-leaf log")
                audit_wall, audit_cpu = time_audit(engine)
                db_bytes = sum(f.stat().st_size for f in Path(tmp).iterdir())
                out[n] = {
                    "build_s": build_s,
                    "appended": appended,
                    "append_s": append_wall,
                    "append_cpu_s": append_cpu,
                    "audit_s": audit_wall,
                    "audit_cpu_s": audit_cpu,
                    "db_bytes": db_bytes,
                    "wall": {k: _rounds(v, cfg.runs) for k, v in timer.wall.items()},
                    "cpu": {k: _rounds(v, cfg.runs) for k, v in timer.cpu.items()},
                }
        finally:
            engine.dispose()
    return out


def _pymerkle(
    cfg: Config, sizes: list[int], queries: int, build_budget: float, prove_budget: float
) -> dict[int, dict[str, Any]]:
    from pymerkle import SqliteTree

    out: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp:
        with SqliteTree(str(Path(tmp) / "pymerkle.db"), algorithm="sha256") as tree:
            built = 0
            building_began = time.monotonic()
            for n in sizes:
                log(f"proofs: pymerkle to {n:,} leaves (budget {build_budget:.0f} s)")
                began = time.perf_counter()
                while built < n and time.monotonic() - building_began < build_budget:
                    step = min(50_000, n - built)
                    tree.append_entries([event_like(i) for i in range(built, built + step)])
                    built += step
                build_s = time.perf_counter() - began
                rng = random.Random(9162 + n)
                wall: dict[str, list[float]] = {"inclusion": [], "consistency": []}
                proving_began = time.monotonic()
                warm = False
                while (
                    len(wall["inclusion"]) < queries
                    and time.monotonic() - proving_began < prove_budget
                ):
                    size = rng.randint(2, built)
                    index = rng.randrange(size)
                    size1 = rng.randint(1, size - 1)
                    t0 = time.perf_counter()
                    tree.prove_inclusion(index + 1, size)
                    t1 = time.perf_counter()
                    tree.prove_consistency(size1, size)
                    t2 = time.perf_counter()
                    if warm:  # the first pair fills pymerkle's subroot cache: a warm-up
                        wall["inclusion"].append((t1 - t0) * _MS)
                        wall["consistency"].append((t2 - t1) * _MS)
                    warm = True
                out[n] = {
                    "reached": built,
                    "build_s": build_s,
                    "proofs": len(wall["inclusion"]),
                    "wall": {
                        k: _rounds(v, min(cfg.runs, max(1, len(v)))) for k, v in wall.items() if v
                    },
                }
                if built < n:
                    break
    return out


def run(cfg: Config) -> Section:
    """CardTrail at 1M and 10M leaves, pymerkle as far as its budgets reach."""
    sizes = [20_000, 50_000] if cfg.quick else [1_000_000, 10_000_000]
    queries = 300 if cfg.quick else 3_000
    ours = _cardtrail(cfg, sizes, queries)
    peer = _pymerkle(
        cfg,
        sizes,
        queries=100 if cfg.quick else 500,
        build_budget=20 if cfg.quick else 90,
        prove_budget=10 if cfg.quick else 30,
    )
    return _section(sizes, ours, peer)


def _ms(stat: dict[str, float]) -> str:
    return f"{stat['median']:.3f} ms ({stat['min']:.3f}–{stat['max']:.3f})"


def _rates(count: int, wall: float, cpu: float) -> str:
    return f"{per_second(count / wall)} ({per_second(count / cpu)})"


def _section(
    sizes: list[int], ours: dict[int, dict[str, Any]], peer: dict[int, dict[str, Any]]
) -> Section:
    header = [
        "proof",
        "leaves",
        "CardTrail p50",
        "CardTrail p99 (wall)",
        "CardTrail p99 (CPU)",
        "pymerkle p50",
        "pymerkle p99",
        "pymerkle p99 ÷ CardTrail p99",
    ]
    rows, targets = [], []
    for n in sizes:
        for kind in ("inclusion", "consistency"):
            mine = ours[n]
            p99 = mine["wall"][kind]["p99_ms"]
            theirs = peer.get(n)
            if theirs and kind in theirs.get("wall", {}):
                size_note = "" if theirs["reached"] >= n else f" at {theirs['reached']:,} leaves"
                their_p99 = theirs["wall"][kind]["p99_ms"]
                peer_cells = [
                    _ms(theirs["wall"][kind]["p50_ms"]) + size_note,
                    _ms(their_p99) + f", {theirs['proofs']} proofs",
                    ratio(their_p99["median"] / p99["median"]),
                ]
                peer_text = f"pymerkle p99 {their_p99['median']:,.1f} ms{size_note}"
            else:
                peer_cells = ["not reached in its build budget", "—", "—"]
                peer_text = "pymerkle: not reached in its build budget"
            rows.append(
                [
                    kind,
                    f"{n:,}",
                    _ms(mine["wall"][kind]["p50_ms"]),
                    _ms(p99),
                    _ms(mine["cpu"][kind]["p99_ms"]),
                    *peer_cells,
                ]
            )
            targets.append(
                Target(
                    f"{kind.capitalize()} proof p99 at {n:,} leaves (SQLite, wall)",
                    f"{p99['median']:.3f} ms (CPU {mine['cpu'][kind]['p99_ms']['median']:.3f} ms)",
                    "≤ 1 ms",
                    p99["median"] <= 1.0,
                    peer_text,
                )
            )
    builds = [
        "log",
        "leaves",
        "build time",
        "appends/s (per CPU-second)",
        "tree audit, leaves/s (per CPU-second)",
        "database size",
    ]
    build_rows = [
        [
            "CardTrail MerkleLog",
            f"{n:,}",
            f"{ours[n]['build_s']:.0f} s (growing from the size above)",
            _rates(ours[n]["appended"], ours[n]["append_s"], ours[n]["append_cpu_s"]),
            _rates(n, ours[n]["audit_s"], ours[n]["audit_cpu_s"]),
            f"{ours[n]['db_bytes'] / 2**20:,.0f} MiB",
        ]
        for n in sizes
    ] + [
        [
            "pymerkle SqliteTree",
            f"{p['reached']:,} (aimed at {n:,})",
            f"{p['build_s']:.0f} s",
            "—",
            "—",
            "—",
        ]
        for n, p in peer.items()
    ]
    notes = [
        "p50 and p99 are medians over rounds of the random queries (min–max across rounds). "
        "Wall time includes waiting for a core on a shared machine; CPU time is what the "
        "query itself costs.",
        "Each CardTrail proof is one SQL query for the O(log n) stored subtrees it needs; "
        "every proof is verified against its root outside the timed call.",
        "pymerkle computes subtree hashes from the leaves when asked (with an LRU cache), so "
        "its proofs are timed after one warm-up pair and within a time budget; the table "
        "says how many proofs fitted and at which size when its build budget ran out.",
        "Appends/s counts the time inside the write transactions (making the inputs is not "
        "counted). The tree audit is one pass of `MerkleLog.audit` over the whole log, every "
        "leaf hash and stored subtree recomputed: the tree part of `cardtrail audit` "
        "(section 6). Root latencies are in results.json beside the proofs'.",
    ]
    return Section(
        "proofs",
        "2. Proofs: inclusion and consistency latency on SQLite",
        [(header, rows), (builds, build_rows)],
        targets,
        notes,
        {
            "cardtrail": {str(k): v for k, v in ours.items()},
            "pymerkle": {str(k): v for k, v in peer.items()},
        },
    )
