"""Section 3: ingest — events per second through the full service path.

On SQLite and on PostgreSQL (a throw-away schema):

* **Ledger, batched** — :func:`ledger_direct`: ``Ledger.issue_cards`` in batches of 5,000 on
  a fresh database, no HTTP: the ceiling for the HTTP figure (with this process's CPU
  seconds: events per CPU-second, the database server's CPU not included);
* **HTTP, batched issuance** — ``POST /api/v1/cards`` with 1,000 cards per request, from 2
  clients, to gunicorn (gthread workers) serving the production app: token check, schema
  validation, idempotency record (the answer, with its codes, stored encrypted), Ledger;
* **HTTP, single redeems** — ``POST /api/v1/cards/<n>/redeem`` with the card's code and a
  store token, one card per request, from 16 clients: one transaction and one logged
  event per request.

Every event is real: issuance answers are checked for their cards, redeems for 200.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from anchoring.db import create_engine, read_transaction
from anchoring.log import MerkleLog
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
from bench.http import BENCH, Deployment, Request, load, prepare, serve
from bench.population import HQ, card_spec
from ledger_service import db
from ledger_service.service import Ledger

WORKERS = 2 * (os.cpu_count() or 1)
HTTP_BATCH = 1_000
REDEEM_CLIENTS = 16


def ledger_direct(engine: sa.Engine, cards: int, batch: int) -> tuple[float, float, int]:
    """Issue ``cards`` cards in batches of ``batch`` on a fresh database, through the Ledger.

    Returns (wall seconds, CPU seconds of this process, events in the log). Migrating and
    creating the two stores come first and are not timed; every card carries a row key,
    as a CSV import's do.
    """
    db.upgrade(engine)
    ledger = Ledger(engine, secrets.token_bytes(32))
    for store_id in ("S1", "S2"):
        ledger.create_store(HQ, store_id, store_id, "north")
    specs = [{**card_spec(), "row_key": f"row-{n}"} for n in range(cards)]
    began, began_cpu = time.perf_counter(), time.process_time()
    for start in range(0, cards, batch):
        ledger.issue_cards(HQ, "bench", specs[start : start + batch], active=True)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    with read_transaction(engine) as conn:
        events = MerkleLog(conn).size()
    return elapsed, cpu, events


def _ledger_direct(cfg: Config, database_url_for: Any, cards: int, batch: int) -> tuple[Stat, Stat]:
    """Events/s and events per CPU-second of :func:`ledger_direct`, a fresh database a run."""
    rates, cpu_rates = [], []
    for run in range(2 if cfg.quick else min(cfg.runs, 3)):
        with database_url_for(f"direct{run}") as url:
            engine = create_engine(url)
            try:
                elapsed, cpu, events = ledger_direct(engine, cards, batch)
            finally:
                engine.dispose()
        rates.append(events / elapsed)
        cpu_rates.append(events / cpu)
    return Stat.of(rates), Stat.of(cpu_rates)


def _issue_requests(deployment: Deployment, count: int, tag: str) -> Iterator[Request]:
    headers = {
        "Authorization": f"Bearer {deployment.hq_token}",
        "Content-Type": "application/json",
    }
    body = json.dumps(
        {"batch_ref": f"bench-{tag}", "cards": [card_spec()] * HTTP_BATCH, "active": True}
    ).encode()
    for _ in range(count):
        yield "POST", "/api/v1/cards", {**headers, "Idempotency-Key": secrets.token_hex(16)}, body


def _keep_cards(status: int, body: bytes) -> list[tuple[str, str]] | str:
    """The issued (number, code) pairs, or the refusal's text to report."""
    if status != 201:
        return body[:300].decode(errors="replace")
    return [(c["card_number"], c["redemption_code"]) for c in json.loads(body)["cards"]]


def _issued(bodies: list[list[tuple[str, str]] | str]) -> list[tuple[str, str]]:
    refused = [b for b in bodies if isinstance(b, str)]
    if refused:
        raise RuntimeError(f"issuance refused {len(refused)} batches: {refused[0]}")
    return [card for batch in bodies for card in batch]


def redeem_requests(deployment: Deployment, cards: list[tuple[str, str]]) -> Iterator[Request]:
    """One redeem per card, by the store-S1 token, each with a fresh idempotency key."""
    headers = {
        "Authorization": f"Bearer {deployment.store_token}",
        "Content-Type": "application/json",
    }
    for number, code in cards:
        body = json.dumps({"redemption_code": code}).encode()
        yield (
            "POST",
            f"/api/v1/cards/{number}/redeem",
            {**headers, "Idempotency-Key": secrets.token_hex(16)},
            body,
        )


def _http(cfg: Config, deployment: Deployment) -> dict[str, Any]:
    runs = 2 if cfg.quick else min(cfg.runs, 3)
    per_round = 2 if cfg.quick else 10
    redeem_seconds = 3 if cfg.quick else 8
    issue_rates, redeem_rates, redeem_latency = [], [], []
    issued: list[tuple[str, str]] = []
    data_dir = deployment.data_dir
    with serve(
        BENCH, data_dir, deployment.database_url, WORKERS, log_path=data_dir / "gunicorn.log"
    ) as server:
        url = server.url
        # Warm-up: a small batch and a few redeems wake every worker and its pool.
        warm = load(url, _issue_requests(deployment, 2, "warm"), 2, 60, _keep_cards)
        warm_cards = _issued(warm.bodies)
        load(url, redeem_requests(deployment, warm_cards[:200]), REDEEM_CLIENTS, 30)
        for r in range(runs):
            result = load(url, _issue_requests(deployment, per_round, f"r{r}"), 2, 600, _keep_cards)
            cards = _issued(result.bodies)
            issue_rates.append(len(cards) / result.elapsed)
            issued += cards
        log(f"ingest: {len(issued):,} cards issued over HTTP; redeeming")
        for r in range(runs):
            chunk = issued[r::runs]
            result = load(url, redeem_requests(deployment, chunk), REDEEM_CLIENTS, redeem_seconds)
            if result.ok != sum(result.statuses.values()):
                raise RuntimeError(f"redeems answered {result.statuses}")
            redeem_rates.append(result.ok / result.elapsed)
            redeem_latency += result.latencies
    return {
        "issue_events_per_s": Stat.of(issue_rates).to_json(),
        "redeem_events_per_s": Stat.of(redeem_rates).to_json(),
        "redeem_latency_ms": {
            k: v * 1e3 if k != "count" else v for k, v in latency(redeem_latency).items()
        },
    }


def _database(cfg: Config, kind: str) -> Any:
    """A function giving, per tag, a context manager that yields a fresh database URL."""

    @contextmanager
    def sqlite(tag: str) -> Iterator[str]:
        with tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp:
            yield f"sqlite:///{Path(tmp) / f'{tag}.db'}"

    @contextmanager
    def postgres(tag: str) -> Iterator[str]:
        with postgres_schema(cfg.postgres_url or "") as url:
            yield url

    return sqlite if kind == "SQLite" else postgres


def run(cfg: Config) -> Section:
    """Both databases, direct and over HTTP."""
    cards = 2_000 if cfg.quick else 20_000
    batch = 1_000 if cfg.quick else 5_000
    kinds = ["SQLite"] + (["PostgreSQL"] if cfg.postgres_url else [])
    figures: dict[str, Any] = {}
    for kind in kinds:
        databases = _database(cfg, kind)
        try:
            log(f"ingest: {kind}, Ledger direct")
            direct, direct_cpu = _ledger_direct(cfg, databases, cards, batch)
            log(f"ingest: {kind}, HTTP")
            with tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp, databases("http") as url:
                http = _http(cfg, prepare(Path(tmp), url))
        except ConnectionError as exc:
            figures[kind] = {"skipped": str(exc)}
            continue
        figures[kind] = {
            "ledger_direct_events_per_s": direct.to_json(),
            "ledger_direct_events_per_cpu_s": direct_cpu.to_json(),
            **http,
        }
    return _section(figures, cards, batch)


def _stat(doc: dict[str, float]) -> Stat:
    return Stat(doc["median"], doc["min"], doc["max"], int(doc["runs"]))


def _section(figures: dict[str, Any], cards: int, batch: int) -> Section:
    header = [
        "database",
        f"Ledger direct, batches of {batch:,}",
        f"HTTP batched ({HTTP_BATCH:,}/request)",
        "HTTP ÷ direct",
        f"HTTP single redeems ({REDEEM_CLIENTS} clients)",
        "redeem p50 / p99",
    ]
    rows, targets = [], []
    for kind, f in figures.items():
        if "skipped" in f:
            rows.append([kind, f"skipped: {f['skipped']}", "", "", "", ""])
            targets.append(Target(f"Ingest on {kind}", "skipped", "measured", None))
            continue
        direct = _stat(f["ledger_direct_events_per_s"])
        direct_cpu = _stat(f["ledger_direct_events_per_cpu_s"])
        issue = _stat(f["issue_events_per_s"])
        redeem = _stat(f["redeem_events_per_s"])
        lat = f["redeem_latency_ms"]
        rows.append(
            [
                kind,
                spread(direct, per_second),
                spread(issue, per_second),
                ratio(issue.median / direct.median),
                spread(redeem, per_second),
                f"{lat['p50']:.1f} ms / {lat['p99']:.1f} ms",
            ]
        )
        targets.append(
            Target(
                f"Batched issuance over HTTP, {kind} (events/s)",
                per_second(issue.median),
                "≥ 5,000/s",
                issue.median >= 5_000,
                f"Ledger direct {per_second(direct.median)} "
                f"({per_second(direct_cpu.median)} per CPU-second)",
                key=f"issue18.issuance.{kind.lower()}",
            )
        )
        targets.append(
            Target(
                f"Single redeems over HTTP, {kind} (events/s)",
                per_second(redeem.median),
                "≥ 1,000/s",
                redeem.median >= 1_000,
                f"p99 {lat['p99']:.1f} ms",
            )
        )
    notes = [
        f"gunicorn with {WORKERS} gthread workers × 4 threads on 127.0.0.1; the load client "
        "(aiohttp, one process) runs on the same cores, so it takes CPU from the server.",
        "Rate limits are off in the benchmark app (bench/server.py): every client shares one "
        "address and one token. Everything else is the production path.",
        f"Ledger direct: {cards:,} cards per run on a fresh database (bench/ingest.py "
        "`ledger_direct`); per CPU-second counts this process's CPU only, not the database "
        "server's.",
        "SQLite runs with synchronous=FULL (an acknowledged event survives a power cut); "
        "single redeems arriving together in a process share one commit and its fsync "
        "(group commit, CARDTRAIL_GROUP_COMMIT_MS at its default; section 3b).",
    ]
    return Section(
        "ingest",
        "3. Ingest: events per second through the service",
        [(header, rows)],
        targets,
        notes,
        figures,
    )
