"""Section 4: public lookup — card pages and proof bundles under 50 concurrent clients.

On the shared population (1M cards on SQLite, anchored on anvil; see
:mod:`bench.population`) gunicorn serves the production app, and 50 clients ask for
random cards of a sample spread over the whole log: the card page (``/c/<number>``: the
card's history, a proof per event, the server-side check, the HTML) and the bundle
(``/api/v1/public/cards/<number>/bundle``). Beside them, the same server's front page —
a template and no database — is the ceiling of this HTTP stack on this machine.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

from bench.common import Config, Section, Stat, Target, latency, log, per_second, ratio, spread
from bench.http import BENCH, Request, load, serve
from bench.population import population

CLIENTS = 50
WORKERS = 2 * (os.cpu_count() or 1)


def _requests(kind: str, sample: list[str], seed: int) -> Iterator[Request]:
    rng = random.Random(seed)
    while True:
        number = rng.choice(sample)
        path = {
            "page": f"/c/{number}",
            "bundle": f"/api/v1/public/cards/{number}/bundle",
            "home": "/",
        }[kind]
        yield "GET", path, {}, None


def _measure(url: str, kind: str, sample: list[str], runs: int, seconds: float) -> dict[str, Any]:
    load(url, _requests(kind, sample, 0), CLIENTS, min(3.0, seconds))  # warm-up
    rates, p99s, p50s, samples = [], [], [], []
    for run in range(runs):
        result = load(url, _requests(kind, sample, run + 1), CLIENTS, seconds)
        if result.ok != sum(result.statuses.values()):
            raise RuntimeError(f"{kind} answered {result.statuses}")
        rates.append(result.ok / result.elapsed)
        lat = latency(result.latencies)
        p50s.append(lat["p50"] * 1e3)
        p99s.append(lat["p99"] * 1e3)
        samples.append(len(result.latencies))
    return {
        "requests_per_s": Stat.of(rates).to_json(),
        "p50_ms": Stat.of(p50s).to_json(),
        "p99_ms": Stat.of(p99s).to_json(),
        "requests": sum(samples),
    }


def run(cfg: Config) -> Section:
    """Build (or reuse) the population, serve it and load it."""
    pop = population(cfg)
    seconds = 4 if cfg.quick else 10
    figures: dict[str, Any] = {
        "cards": pop.cards,
        "events": pop.events,
        "population_build_s": pop.build_s,
        "population_issue_events_per_s": pop.events / pop.build_s,
    }
    data_dir = pop.deployment.data_dir
    with serve(
        BENCH, data_dir, pop.deployment.database_url, WORKERS, log_path=data_dir / "gunicorn.log"
    ) as server:
        for kind in ("home", "page", "bundle"):
            log(f"lookup: {kind}, {CLIENTS} clients, {cfg.runs} × {seconds:g} s")
            figures[kind] = _measure(server.url, kind, pop.sample, cfg.runs, seconds)
    return _section(figures)


def _stat(doc: dict[str, float]) -> Stat:
    return Stat(doc["median"], doc["min"], doc["max"], int(doc["runs"]))


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _section(figures: dict[str, Any]) -> Section:
    names = {
        "home": "front page (no database): the stack's ceiling",
        "page": "card page `/c/<number>`",
        "bundle": "bundle `/api/v1/public/cards/<number>/bundle`",
    }
    ceiling = _stat(figures["home"]["requests_per_s"]).median
    header = ["request", "requests/s", "p50", "p99", "÷ ceiling"]
    rows, targets = [], []
    for kind in ("home", "page", "bundle"):
        f = figures[kind]
        rate, p50, p99 = (_stat(f[k]) for k in ("requests_per_s", "p50_ms", "p99_ms"))
        rows.append(
            [
                names[kind],
                spread(rate, per_second),
                spread(p50, _ms),
                spread(p99, _ms),
                ratio(rate.median / ceiling),
            ]
        )
        if kind != "home":
            targets.append(
                Target(
                    f"Public {names[kind]} at {figures['cards']:,} cards: requests/s",
                    per_second(rate.median),
                    "≥ 1,000/s",
                    rate.median >= 1_000,
                    f"ceiling {per_second(ceiling)}",
                )
            )
            targets.append(
                Target(
                    f"Public {names[kind]} at {figures['cards']:,} cards: p99",
                    _ms(p99.median),
                    "≤ 30 ms",
                    p99.median <= 30,
                )
            )
    notes = [
        f"{CLIENTS} concurrent clients (aiohttp, one process on the same cores) against gunicorn "
        f"with {WORKERS} gthread workers × 4 threads; rate limits off (bench/server.py).",
        f"The population: {figures['cards']:,} cards ({figures['events']:,} events: some "
        f"cards also redeemed) issued through Ledger.issue_cards in "
        f"{figures['population_build_s']:.0f} s "
        f"({figures['population_issue_events_per_s']:,.0f} events/s), then anchored on anvil "
        "by the anchoring worker, so every page and bundle proves its events.",
        "Cards are drawn at random from a sample spread over the whole log.",
    ]
    return Section(
        "lookup",
        "4. Public lookup: card pages and bundles",
        [(header, rows)],
        targets,
        notes,
        figures,
    )
