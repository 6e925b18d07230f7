"""Event → anchored latency and gas per checkpoint on a local anvil node.

Starts anvil on a free port on 127.0.0.1, a fresh SQLite database and the anchoring worker
(ANCHOR_INTERVAL as given, default 1 s), appends events at a steady rate, and measures for
each event the time from its commit until a confirmed checkpoint covering it is recorded.
Prints p50 / p99 / max latency and the gas of each ``anchor`` transaction.

    .venv/bin/python scripts/bench_anchoring.py [--seconds 20] [--rate 20] [--interval 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anchoring import checkpoints as cp
from anchoring.chain import AnchorClient, connect, fund_dev_account
from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.keys import AnchorKey
from anchoring.log import MerkleLog
from anchoring.node import free_port, start_anvil
from anchoring.schema import metadata
from anchoring.worker import Worker, WorkerConfig


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def measure(seconds: float, rate: float, interval: float) -> tuple[int, list[float], list[int]]:
    """Append ``rate`` events/s for ``seconds`` under a worker anchoring every ``interval``.

    Returns the number of events appended, each anchored event's latency (seconds from
    its commit to the recorded checkpoint) and the gas of each mined ``anchor``
    transaction. ``bench/`` calls it too.
    """
    workdir = Path(tempfile.mkdtemp(prefix="cardtrail-bench-"))
    node = start_anvil(free_port(), log_path=workdir / "anvil.log")
    engine = create_engine(f"sqlite:///{workdir / 'bench.db'}")
    metadata.create_all(engine)
    w3 = connect(node.url)
    key = AnchorKey(Account.create())
    fund_dev_account(w3, key.address)
    worker = Worker(engine, w3, key, WorkerConfig(interval=interval, max_pending=0))

    appended_at: dict[int, float] = {}
    anchored_at: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:
        covered = 0
        while not done.is_set() or covered < len(appended_at):
            with read_transaction(engine) as conn:
                latest = cp.latest_anchored(conn)
            size = latest.checkpoint.tree_size if latest else 0
            now = time.monotonic()
            for index in range(covered, size):
                anchored_at[index] = now
            covered = max(covered, size)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        with worker.running():
            watcher.start()
            period = 1 / rate
            start = time.monotonic()
            count = 0
            while time.monotonic() - start < seconds:
                with write_transaction(engine) as conn:
                    log = MerkleLog(conn)
                    index = log.lock_head()
                    log.append([f"bench event {index}".encode()])
                appended_at[index] = time.monotonic()
                count += 1
                time.sleep(max(0.0, start + count * period - time.monotonic()))
            done.set()
            watcher.join(timeout=30)
        with read_transaction(engine) as conn:
            mined = [t for t in cp.transactions(conn) if t.status == cp.TX_MINED]
            deployment = cp.current_deployment(conn)
        client = AnchorClient(w3, deployment.contract, key)
        gas = [client.receipt(t.tx_hash).gas_used for t in mined]
    finally:
        node.stop()
        engine.dispose()

    latencies = [anchored_at[i] - appended_at[i] for i in appended_at if i in anchored_at]
    return len(appended_at), latencies, gas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="how long to append events")
    parser.add_argument("--rate", type=float, default=20, help="events per second")
    parser.add_argument("--interval", type=float, default=1.0, help="ANCHOR_INTERVAL in seconds")
    args = parser.parse_args()

    appended, latencies, gas = measure(args.seconds, args.rate, args.interval)
    print(f"events appended        {appended} at {args.rate:g}/s for {args.seconds:g} s")
    print(f"events anchored        {len(latencies)}")
    print(f"ANCHOR_INTERVAL        {args.interval:g} s, 1 confirmation, anvil automine")
    print(f"latency p50            {percentile(latencies, 50):.3f} s")
    print(f"latency p99            {percentile(latencies, 99):.3f} s")
    print(f"latency max            {max(latencies):.3f} s")
    print(f"checkpoints anchored   {len(gas)}")
    print(
        f"gas per checkpoint     mean {statistics.mean(gas):,.0f}, "
        f"min {min(gas):,}, max {max(gas):,} (first one has no consistency proof)"
    )


if __name__ == "__main__":
    main()
