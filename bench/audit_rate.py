"""Section 6: ``cardtrail audit`` over the shared population (1M cards, about 1M events).

Runs the real command (the installed ``cardtrail audit``, a new process each run,
start-up and migration check included) against the population's data directory and its
anvil node, and counts events per second over the whole audit: the tree pass (every leaf
and node re-hashed), the events table against the leaves (JCS re-encoding, per-card hash
chains), the cards table and the checkpoints on chain. Each run must pass (exit 0).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, Config, Section, Stat, Target, log, per_second, spread
from bench.population import population

TARGET = 100_000


def _warm_up(data_dir: Path, command: str, env: dict[str, str]) -> None:
    """Read the database files into the page cache and start the command once (imports)."""
    for path in sorted(data_dir.glob("cardtrail.db*")):
        with path.open("rb") as source:
            while source.read(1 << 24):
                pass
    subprocess.run([command, "--help"], env=env, capture_output=True, timeout=120, check=True)


def run(cfg: Config) -> Section:
    """Time ``cardtrail audit`` runs after a warm-up."""
    pop = population(cfg)
    env = {
        **os.environ,
        "CARDTRAIL_DATA_DIR": str(pop.deployment.data_dir),
        "DATABASE_URL": pop.deployment.database_url,
        "PYTHONPATH": str(ROOT),
    }
    # The installed console script, as an operator runs it.
    argv = [str(Path(sys.executable).parent / "cardtrail"), "audit", "--rpc", pop.rpc_url]
    _warm_up(pop.deployment.data_dir, argv[0], env)
    walls, cpus = [], []
    # A run over 1M events takes minutes: three of them keep the whole benchmark in time.
    for attempt in range(1, min(cfg.runs, 3) + 1):
        began = time.perf_counter()
        before = os.times()
        done = subprocess.run(
            argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
        )
        after = os.times()
        if done.returncode != 0:
            raise RuntimeError(f"cardtrail audit exited {done.returncode}: {done.stdout[-500:]}")
        walls.append(time.perf_counter() - began)
        cpus.append(
            after.children_user
            + after.children_system
            - before.children_user
            - before.children_system
        )
        log(f"audit: run {attempt} took {time.perf_counter() - began:.1f} s")
    rate = Stat.of(walls).rate(pop.events)
    cpu_rate = Stat.of(cpus).rate(pop.events)
    figures = {
        "events": pop.events,
        "cards": pop.cards,
        "wall_s": Stat.of(walls).to_json(),
        "cpu_s": Stat.of(cpus).to_json(),
        "events_per_s": rate.to_json(),
        "events_per_cpu_s": cpu_rate.to_json(),
    }
    table = (
        ["events", "wall time", "events/s", "events per CPU-second"],
        [
            [
                f"{pop.events:,}",
                spread(Stat.of(walls), lambda s: f"{s:.1f} s"),
                spread(rate, per_second),
                spread(cpu_rate, per_second),
            ]
        ],
    )
    targets = [
        Target(
            f"`cardtrail audit` over {pop.events:,} events",
            per_second(rate.median),
            f"≥ {TARGET:,}/s",
            rate.median >= TARGET,
            f"{per_second(cpu_rate.median)} per CPU-second",
        )
    ]
    notes = [
        "The whole command is timed: process start, migration check, the four passes "
        "and the chain queries. The warm-up reads the database files into the page cache "
        "and starts the command once; then three timed runs."
    ]
    return Section("audit", "6. Audit: `cardtrail audit`", [table], targets, notes, figures)
