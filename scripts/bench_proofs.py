"""Benchmark the stored log: append throughput, proof latency and the audit, on SQLite.

Builds a log of ``--leaves`` event-sized leaves (default 1,000,000) in a temporary
directory, then times random inclusion and consistency proofs (each one query) and prints
their p50/p99 latency. Every proof is checked against the root it must lead to, outside
the timed section. Run it with ``make bench`` or, smaller::

    .venv/bin/python scripts/bench_proofs.py --leaves 20000 --queries 500
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Engine
from tqdm import tqdm

from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_head, log_leaves, log_nodes, metadata

T = TypeVar("T")


def event_like(index: int) -> bytes:
    """About 330 bytes shaped like a CardTrail event's canonical JSON."""
    return (
        b'{"actor":{"id":"store-042","role":"store"},"card":"%s","data":{"mode":"store"},'
        b'"leaf_index":%d,"nonce":"%s","occurred_at":"2026-11-24T06:17:10.123Z",'
        b'"prev_event_hash":"%s","recorded_at":"2026-11-24T06:17:10.123Z","seq":1,'
        b'"store_id":"store-042","type":"REDEEMED"}'
    ) % (os.urandom(32).hex().encode(), index, os.urandom(16).hex().encode(), b"0" * 64)


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) by the nearest-rank method."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def build(engine: Engine, leaves: int, batch: int) -> tuple[float, float]:
    """Append ``leaves`` leaves in write transactions of ``batch``.

    Returns the wall and CPU seconds spent in the transactions (making the inputs is not
    counted).
    """
    spent = cpu = 0.0
    with tqdm(total=leaves, unit="leaf", unit_scale=True, desc="append", file=sys.stderr) as bar:
        for start in range(0, leaves, batch):
            inputs = [event_like(i) for i in range(start, min(start + batch, leaves))]
            began, began_cpu = time.perf_counter(), time.thread_time()
            with write_transaction(engine) as conn:
                log = MerkleLog(conn)
                log.lock_head()
                log.append(inputs)
            spent += time.perf_counter() - began
            cpu += time.thread_time() - began_cpu
            bar.update(len(inputs))
    return spent, cpu


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


def bench_queries(engine: Engine, leaves: int, queries: int, rng: random.Random) -> Timer:
    """Time random proofs and roots; check each proof outside the timed section."""
    timer = Timer()
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        for _ in tqdm(range(queries), desc="proofs", file=sys.stderr):
            size = rng.randint(2, leaves)
            index = rng.randrange(size)
            size1 = rng.randint(1, size - 1)
            proof = timer("inclusion", lambda: log.inclusion_proof(index, size))
            consistency = timer("consistency", lambda: log.consistency_proof(size1, size))
            root = timer("root", lambda: log.root(size))
            proof.verify(root)
            consistency.verify(log.root(size1), root)
    return timer


def summary(samples: Sequence[float]) -> str:
    """p50, p99 and max of some milliseconds."""
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    return f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {max(samples):.3f} ms"


def main(argv: Sequence[str] | None = None) -> None:
    """Build the log, time proofs and the audit, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000, help="log size (1,000,000)")
    parser.add_argument("--queries", type=int, default=3_000, help="random proofs of each kind")
    parser.add_argument("--batch", type=int, default=10_000, help="leaves per append transaction")
    parser.add_argument("--seed", type=int, default=9162, help="seed for the random queries")
    parser.add_argument("--no-audit", action="store_true", help="skip timing the audit")
    args = parser.parse_args(argv)
    if args.leaves < 2:
        parser.error("--leaves must be at least 2")

    with tempfile.TemporaryDirectory(prefix="cardtrail-bench-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        metadata.create_all(engine, tables=[log_head, log_leaves, log_nodes])
        append_s, append_cpu = build(engine, args.leaves, args.batch)
        timer = bench_queries(engine, args.leaves, args.queries, random.Random(args.seed))
        audit: tuple[float, float] | None = None
        if not args.no_audit:
            with read_transaction(engine) as conn, tqdm(
                total=args.leaves, unit="leaf", unit_scale=True, desc="audit", file=sys.stderr
            ) as bar:
                began, began_cpu = time.perf_counter(), time.thread_time()
                divergence = MerkleLog(conn).audit(bar.update)
                audit = (time.perf_counter() - began, time.thread_time() - began_cpu)
            if divergence is not None:
                raise SystemExit(f"audit found a divergence in a fresh log: {divergence}")
        db_bytes = sum(f.stat().st_size for f in Path(tmp).iterdir())
        engine.dispose()

    print(
        f"log: {args.leaves:,} leaves on SQLite ({db_bytes / 2**20:,.0f} MiB), "
        f"{args.queries:,} random queries of each kind"
    )
    print(
        f"append: {args.leaves / append_s:,.0f} leaves/s "
        f"({append_s:.1f} s, CPU {append_cpu:.1f} s, in transactions of {args.batch:,})"
    )
    # Wall time includes waiting for a CPU: on a shared machine the scheduler's time slices
    # show up in p99; CPU time is what the code itself costs.
    for kind, samples in timer.wall.items():
        print(f"{kind:<12} wall {summary(samples)}")
        print(f"{'':<12} cpu  {summary(timer.cpu[kind])}")
    if audit is not None:
        print(
            f"audit: {args.leaves / audit[0]:,.0f} leaves/s "
            f"({audit[0]:.1f} s, CPU {audit[1]:.1f} s), no divergence"
        )


if __name__ == "__main__":
    main()
