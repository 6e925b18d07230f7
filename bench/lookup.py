"""Section 4: public lookup — card pages and proof bundles under 50 concurrent clients.

On the shared population (1M cards on SQLite, anchored on anvil; see
:mod:`bench.population`) gunicorn serves the production app, and 50 clients ask for
random cards of a sample spread over the whole log: the card page (``/c/<number>``: the
card's history, a proof per event, the server-side check, the HTML) and the bundle
(``/api/v1/public/cards/<number>/bundle``). Beside them, the same server's front page —
a template and no database — is the ceiling of this HTTP stack on this machine.

Each is measured three ways: random cards of the whole sample (mostly built afresh: the
workers' caches hold a fraction of it), the same few popular cards again and again (served
from the workers' caches, :mod:`portal.lookup_cache`), and those cards asked
conditionally with the ETag the client already has (answered 304 from the card's head).
"""

from __future__ import annotations

import os
import random
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bench.common import Config, Section, Stat, Target, latency, log, per_second, ratio, spread
from bench.http import BENCH, Request, load, serve
from bench.population import population
from portal.lookup_cache import DEFAULT_SIZE

CLIENTS = 50
WORKERS = 2 * (os.cpu_count() or 1)
POPULAR = 100
"""How many cards the repeated and conditional modes ask for: every worker caches them all."""


@dataclass(frozen=True)
class Mode:
    """One measured request: the route, which cards, and whether it is conditional."""

    route: str
    name: str
    popular: bool = False
    conditional: bool = False


MODES = {
    "home": Mode("home", "front page (no database): the stack's ceiling"),
    "page": Mode("page", "card page `/c/<number>`"),
    "bundle": Mode("bundle", "bundle `/api/v1/public/cards/<number>/bundle`"),
    "page_repeated": Mode("page", f"card page, {POPULAR} cards repeated (cached)", popular=True),
    "bundle_repeated": Mode("bundle", f"bundle, {POPULAR} cards repeated (cached)", popular=True),
    "page_conditional": Mode(
        "page", "card page, `If-None-Match` current (304)", popular=True, conditional=True
    ),
    "bundle_conditional": Mode(
        "bundle", "bundle, `If-None-Match` current (304)", popular=True, conditional=True
    ),
}


def _path(route: str, number: str) -> str:
    return {
        "page": f"/c/{number}",
        "bundle": f"/api/v1/public/cards/{number}/bundle",
        "home": "/",
    }[route]


def _requests(
    route: str, sample: list[str], seed: int, tags: Mapping[str, str] | None = None
) -> Iterator[Request]:
    rng = random.Random(seed)
    while True:
        path = _path(route, rng.choice(sample))
        yield "GET", path, {"If-None-Match": tags[path]} if tags else {}, None


def _etags(url: str, route: str, sample: list[str]) -> dict[str, str]:
    """Each card's current ETag, as a client that has seen the answer before holds it."""
    tags = {}
    for number in sample:
        path = _path(route, number)
        with urllib.request.urlopen(url + path) as answer:
            tags[path] = answer.headers["ETag"]
    return tags


def _measure(url: str, mode: Mode, sample: list[str], runs: int, seconds: float) -> dict[str, Any]:
    tags = _etags(url, mode.route, sample) if mode.conditional else None
    expected = 304 if mode.conditional else 200
    load(url, _requests(mode.route, sample, 0, tags), CLIENTS, min(3.0, seconds))  # warm-up
    rates, p99s, p50s, samples = [], [], [], []
    for run in range(runs):
        result = load(url, _requests(mode.route, sample, run + 1, tags), CLIENTS, seconds)
        if set(result.statuses) != {expected}:
            raise RuntimeError(f"{mode.name} answered {result.statuses}")
        rates.append(result.statuses[expected] / result.elapsed)
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
        "sample_cards": len(pop.sample),
    }
    data_dir = pop.deployment.data_dir
    with serve(
        BENCH, data_dir, pop.deployment.database_url, WORKERS, log_path=data_dir / "gunicorn.log"
    ) as server:
        popular = pop.sample[:POPULAR]
        for kind, mode in MODES.items():
            log(f"lookup: {kind}, {CLIENTS} clients, {cfg.runs} × {seconds:g} s")
            sample = popular if mode.popular else pop.sample
            figures[kind] = _measure(server.url, mode, sample, cfg.runs, seconds)
    return _section(figures)


def _stat(doc: dict[str, float]) -> Stat:
    return Stat(doc["median"], doc["min"], doc["max"], int(doc["runs"]))


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _beside_front_page(figures: dict[str, Any]) -> list[Target]:
    """Issue 18's goals: card page and bundle at ≥ 0.8× the front page's requests/s, with
    a p99 ≤ 3× the front page's, both measured in this run: for random cards, for cards
    the cache holds, and for conditional requests answered 304."""
    home_rate = _stat(figures["home"]["requests_per_s"]).median
    home_p99 = _stat(figures["home"]["p99_ms"]).median
    targets = []
    # Random cards of the whole sample are mostly built afresh (a cache miss); the
    # repeated and conditional modes are what the cache and an ETag-aware proxy serve.
    for kind, key in (
        ("page", "issue18.card_page"),
        ("bundle", "issue18.bundle"),
        ("page_repeated", "issue18.card_page.cached"),
        ("bundle_repeated", "issue18.bundle.cached"),
        ("page_conditional", "issue18.card_page.conditional"),
        ("bundle_conditional", "issue18.bundle.conditional"),
    ):
        if kind not in figures:
            continue
        rate = _stat(figures[kind]["requests_per_s"]).median / home_rate
        p99 = _stat(figures[kind]["p99_ms"]).median / home_p99
        targets.append(
            Target(
                f"Public {MODES[kind].name} ÷ front page: requests/s; p99",
                f"{ratio(rate)}; p99 {ratio(p99)}",
                "≥ 0.8×; p99 ≤ 3×",
                rate >= 0.8 and p99 <= 3,
                f"front page {per_second(home_rate)}, p99 {_ms(home_p99)}",
                key=key,
            )
        )
    return targets


def _section(figures: dict[str, Any]) -> Section:
    ceiling = _stat(figures["home"]["requests_per_s"]).median
    header = ["request", "requests/s", "p50", "p99", "÷ ceiling"]
    rows, targets = [], []
    for kind in MODES:
        f = figures[kind]
        rate, p50, p99 = (_stat(f[k]) for k in ("requests_per_s", "p50_ms", "p99_ms"))
        rows.append(
            [
                MODES[kind].name,
                spread(rate, per_second),
                spread(p50, _ms),
                spread(p99, _ms),
                ratio(rate.median / ceiling),
            ]
        )
        if kind in ("page", "bundle"):
            name = MODES[kind].name
            targets.append(
                Target(
                    f"Public {name} at {figures['cards']:,} cards: requests/s",
                    per_second(rate.median),
                    "≥ 1,000/s",
                    rate.median >= 1_000,
                    f"ceiling {per_second(ceiling)}",
                )
            )
            targets.append(
                Target(
                    f"Public {name} at {figures['cards']:,} cards: p99",
                    _ms(p99.median),
                    "≤ 30 ms",
                    p99.median <= 30,
                )
            )
    targets += _beside_front_page(figures)
    notes = [
        f"{CLIENTS} concurrent clients (aiohttp, one process on the same cores) against gunicorn "
        f"with {WORKERS} gthread workers × 4 threads; rate limits off (bench/server.py).",
        f"The population: {figures['cards']:,} cards ({figures['events']:,} events: some "
        f"cards also redeemed) issued through Ledger.issue_cards in "
        f"{figures['population_build_s']:.0f} s "
        f"({figures['population_issue_events_per_s']:,.0f} events/s), then anchored on anvil "
        "by the anchoring worker, so every page and bundle proves its events.",
        "Cards are drawn at random from a sample spread over the whole log "
        f"({figures['sample_cards']:,} cards); each worker caches at most "
        f"{DEFAULT_SIZE:,} answers (portal/lookup_cache.py). "
        f"The repeated rows ask for {POPULAR} of them again and again (every worker has "
        "them cached); the conditional rows send those cards' current ETags in "
        "`If-None-Match` and get 304 from the card's head alone.",
    ]
    return Section(
        "lookup",
        "4. Public lookup: card pages and bundles",
        [(header, rows)],
        targets,
        notes,
        figures,
    )
