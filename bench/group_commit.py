"""Section: group commit — single redeems over HTTP, the previous design beside the new one.

On SQLite and on PostgreSQL (a throw-away schema), the same gunicorn (gthread, 127.0.0.1)
serves ``POST /api/v1/cards/<n>/redeem`` to :data:`CLIENTS` clients, one card per request,
in two servers on one database, their runs alternating:

* **previous design** — ``CARDTRAIL_GROUP_COMMIT_MS=0``: each redeem its own transaction,
  holding the log head through its commit and fsync;
* **group commit** — the default setting: the redeems arriving together in a process
  share one transaction and one commit (:mod:`ledger_service.service.sequencer`).

The cards are issued through the Ledger before the servers start (not timed). Every
redeem must answer 200. Throughput is redeems per second over each run; latency is each
request's, p50 and p99 over every run of a mode.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from anchoring.db import create_engine
from bench.common import (
    Config,
    Section,
    Stat,
    Target,
    latency,
    log,
    per_second,
    postgres_schema,
    ratio,
    spread,
)
from bench.http import BENCH, App, Deployment, load, prepare, serve
from bench.ingest import redeem_requests
from bench.population import HQ, card_spec
from ledger_service.service import Ledger

CLIENTS = 64
WORKERS = os.cpu_count() or 1
THREADS = 16
"""gunicorn's shape for both modes, as docs/production.md recommends: one process per core
(Python runs one thread at a time per process) with enough threads that one process
holds many redeems to group."""

MODES = (("previous design", "0"), ("group commit", ""))
"""(name, CARDTRAIL_GROUP_COMMIT_MS): "" leaves the default."""

GOAL_RATIO = 3.0
GOAL_P99_MS = 100.0


def issue(deployment: Deployment, count: int) -> list[tuple[str, str]]:
    """``count`` cards issued through the Ledger in batches: their (number, code)."""
    engine = create_engine(deployment.database_url)
    try:
        ledger = Ledger(engine, deployment.secret_key)
        issued: list[tuple[str, str]] = []
        for start in range(0, count, 1_000):
            batch = [card_spec() for _ in range(min(1_000, count - start))]
            cards = ledger.issue_cards(HQ, f"gc-{start}", batch, active=True)["cards"]
            issued += [(c["card_number"], c["redemption_code"]) for c in cards]
    finally:
        engine.dispose()
    return issued


def _app(setting: str) -> App:
    """The benchmark app with CARDTRAIL_GROUP_COMMIT_MS at ``setting`` ("" the default)."""
    env = {"CARDTRAIL_GROUP_COMMIT_MS": setting} if setting else {}
    return dataclasses.replace(BENCH, env={**BENCH.env, **env})


def side_by_side(
    cfg: Config, deployment: Deployment, cards: list[tuple[str, str]], kind: str
) -> dict[str, Any]:
    """Both designs' servers up at once on one database, their timed runs alternating
    (the machine's load drifts: each design gets its share of quiet and busy moments).

    Each mode redeems its own share of ``cards``; the idle server only waits.
    """
    runs = 2 if cfg.quick else min(cfg.runs, 3)
    seconds = 3 if cfg.quick else 8
    share = len(cards) // len(MODES)
    rates: dict[str, list[float]] = {name: [] for name, _ in MODES}
    latencies: dict[str, list[float]] = {name: [] for name, _ in MODES}
    with ExitStack() as servers:
        urls, pools = {}, {}
        for k, (name, setting) in enumerate(MODES):
            log_path = deployment.data_dir / f"gunicorn-{kind}-{k}.log"
            server = servers.enter_context(
                serve(
                    _app(setting),
                    deployment.data_dir,
                    deployment.database_url,
                    WORKERS,
                    THREADS,
                    log_path,
                )
            )
            mine = cards[k * share : (k + 1) * share]
            load(server.url, redeem_requests(deployment, mine[: 4 * CLIENTS]), CLIENTS, 60)
            urls[name], pools[name] = server.url, mine[4 * CLIENTS :]
        for run in range(runs):
            for name, _ in MODES:
                log(f"group commit: {kind}, {name}, run {run + 1} of {runs}")
                chunk = pools[name][run::runs]
                result = load(urls[name], redeem_requests(deployment, chunk), CLIENTS, seconds)
                if result.ok != sum(result.statuses.values()):
                    raise RuntimeError(f"redeems answered {result.statuses}")
                rates[name].append(result.ok / result.elapsed)
                latencies[name] += result.latencies
    return {
        name: {
            "redeems_per_s": Stat.of(rates[name]).to_json(),
            "latency_ms": {
                k: v * 1e3 if k != "count" else v for k, v in latency(latencies[name]).items()
            },
        }
        for name, _ in MODES
    }


@contextmanager
def _database(cfg: Config, kind: str, tmp: Path) -> Iterator[str]:
    if kind == "SQLite":
        yield f"sqlite:///{tmp / 'gc.db'}"
    else:
        with postgres_schema(cfg.postgres_url or "") as url:
            yield url


def run(cfg: Config) -> Section:
    """Both databases, both modes, side by side."""
    per_mode = cfg.size(30_000, 6_000)
    kinds = ["SQLite"] + (["PostgreSQL"] if cfg.postgres_url else [])
    figures: dict[str, Any] = {}
    for kind in kinds:
        try:
            with (
                tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp,
                _database(cfg, kind, Path(tmp)) as url,
            ):
                deployment = prepare(Path(tmp) / "data", url)
                log(f"group commit: {kind}, issuing {2 * per_mode:,} cards")
                cards = issue(deployment, 2 * per_mode)
                figures[kind] = side_by_side(cfg, deployment, cards, kind)
        except ConnectionError as exc:
            figures[kind] = {"skipped": str(exc)}
    return _section(figures)


def _stat(doc: dict[str, float]) -> Stat:
    return Stat(doc["median"], doc["min"], doc["max"], int(doc["runs"]))


def _section(figures: dict[str, Any]) -> Section:
    header = [
        "database",
        "design",
        f"single redeems ({CLIENTS} clients)",
        "p50",
        "p99",
        "÷ previous",
    ]
    rows: list[list[str]] = []
    targets: list[Target] = []
    for kind, modes in figures.items():
        if "skipped" in modes:
            rows.append([kind, f"skipped: {modes['skipped']}", "", "", "", ""])
            targets.append(Target(f"Group commit on {kind}", "skipped", "measured", None))
            continue
        before = _stat(modes[MODES[0][0]]["redeems_per_s"])
        for name, _ in MODES:
            rate, lat = _stat(modes[name]["redeems_per_s"]), modes[name]["latency_ms"]
            rows.append(
                [
                    kind,
                    name,
                    spread(rate, per_second),
                    f"{lat['p50']:.1f} ms",
                    f"{lat['p99']:.1f} ms",
                    ratio(rate.median / before.median),
                ]
            )
        after = _stat(modes[MODES[-1][0]]["redeems_per_s"])
        p99 = modes[MODES[-1][0]]["latency_ms"]["p99"]
        gain = after.median / before.median
        targets.append(
            Target(
                f"Single redeems over HTTP with group commit, {kind}, {CLIENTS} clients",
                f"{ratio(gain)} previous design, p99 {p99:.1f} ms",
                f"≥ {GOAL_RATIO:g}× previous design, p99 ≤ {GOAL_P99_MS:g} ms",
                gain >= GOAL_RATIO and p99 <= GOAL_P99_MS,
                f"{per_second(after.median)} vs {per_second(before.median)}",
                key=f"issue18.redeem.{kind.lower()}",
            )
        )
    notes = [
        f"gunicorn with {WORKERS} gthread workers × {THREADS} threads on 127.0.0.1 in both "
        "designs; the load client (aiohttp, one process) runs on the same cores.",
        "Previous design: CARDTRAIL_GROUP_COMMIT_MS=0, a transaction (and an fsync on SQLite) "
        "per redeem. Group commit: the default setting (docs/production.md).",
        "Rate limits are off in the benchmark app (bench/server.py); every redeem answered 200.",
    ]
    return Section(
        "group_commit",
        "3b. Group commit: single redeems, previous design beside group commit",
        [(header, rows)],
        targets,
        notes,
        figures,
    )
