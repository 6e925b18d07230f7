"""Load test: CardTrail under gunicorn with the production settings, driven by mixed traffic.

Starts gunicorn (``cardtrail.wsgi:app``, the settings of docs/production.md, through
the benchmarks' launcher :mod:`bench.http`) on a free port of 127.0.0.1 on a fresh data
directory — SQLite, or PostgreSQL with ``--postgres`` — prepares stores, tokens and a pool
of cards, then runs ``--clients`` concurrent clients for ``--seconds``:

* 80 % public card lookups (``GET /api/v1/public/cards/<number>``) of issued cards,
* 15 % redemptions at a store (each card once),
* 5 % issuance of one card (headquarters).

``--postgres URL`` runs on a fresh schema of that PostgreSQL server instead.
Visitors come from many addresses (``X-Forwarded-For`` behind ``CARDTRAIL_PROXY_HOPS=1``,
as behind the documented reverse proxy), so the per-client limits do not throttle the
run. It prints, per kind and in total: requests, throughput, error rate, p50 and p99
latency. Only 127.0.0.1 is ever contacted.

    .venv/bin/python -m scripts.load --seconds 60 --clients 16        # make load
    .venv/bin/python -m scripts.load --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anchoring.node import HOST
from bench import http as gunicorn
from bench.common import latency, postgres_schema
from bench.http import Server

MIX = (("lookup", 80), ("redeem", 15), ("issue", 5))


def production_app() -> gunicorn.App:
    """The production app and command line (docs/production.md), behind one proxy hop.

    Visitors' addresses come from ``X-Forwarded-For`` (``CARDTRAIL_PROXY_HOPS=1``, as
    behind the documented reverse proxy). Set ``CARDTRAIL_LOAD_ACCESS_LOG`` to keep
    gunicorn's access log in the server's log.
    """
    return gunicorn.App(
        "cardtrail.wsgi:app",
        (
            "--timeout",
            "30",
            "--graceful-timeout",
            "30",
            "--keep-alive",
            "5",
            "--max-requests",
            "10000",
            "--max-requests-jitter",
            "1000",
            "--access-logfile",
            "-" if os.environ.get("CARDTRAIL_LOAD_ACCESS_LOG") else "/dev/null",
            "--logger-class",
            "cardtrail.access_log.GunicornLogger",
        ),
        {"CARDTRAIL_PROXY_HOPS": "1"},
    )


def start_server(
    data_dir: Path,
    database_url: str | None = None,
    workers: int = 2,
    threads: int = 4,
    log: Path | None = None,
) -> Server:
    """Start the production app under gunicorn on a free port and wait until it answers."""
    return gunicorn.start(production_app(), data_dir, database_url, workers, threads, log)


def serve(
    data_dir: Path,
    database_url: str | None = None,
    workers: int = 2,
    threads: int = 4,
    log: Path | None = None,
) -> AbstractContextManager[Server]:
    """:func:`start_server`, stopped at the end of the block."""
    return gunicorn.serve(production_app(), data_dir, database_url, workers, threads, log)


def mint_tokens(data_dir: Path, database_url: str | None, stores: list[str]) -> dict[str, str]:
    """An hq token and one token per store, made directly in the deployment's database."""
    from anchoring.db import create_engine
    from ledger_service.auth import create_token
    from ledger_service.config import Settings

    environ = {"DATABASE_URL": database_url} if database_url else {}
    settings = Settings.from_env(data_dir, environ=environ)
    engine = create_engine(settings.database_url)
    try:
        secret = settings.secret_key()
        tokens = {"hq": create_token(engine, secret, "hq").token}
        for store in stores:
            tokens[store] = create_token(engine, secret, "store", store).token
    finally:
        engine.dispose()
    return tokens


class Client:
    """A keep-alive HTTP/1.1 connection to the server (one per thread)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        if host != HOST:
            raise ValueError("the load test talks to 127.0.0.1 only")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Send one request; (status, parsed JSON or None)."""
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data else {}
        hdrs.update(headers or {})
        try:
            self._conn.request(method, path, body=data, headers=hdrs)
            response = self._conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            raise
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, None


@dataclass
class Pool:
    """Cards to look up and cards still waiting to be redeemed (each at most once)."""

    numbers: list[str]
    unredeemed: list[tuple[str, str]]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[str, str] | None:
        with self.lock:
            return self.unredeemed.pop() if self.unredeemed else None

    def add(self, number: str, code: str) -> None:
        with self.lock:
            self.numbers.append(number)
            self.unredeemed.append((number, code))


_key_counter = iter(range(10**12))
_key_lock = threading.Lock()


def _key() -> str:
    with _key_lock:
        return f"load-{os.getpid()}-{next(_key_counter)}"


def prepare(server: Server, tokens: dict[str, str], stores: list[str], cards: int) -> Pool:
    """Create the stores and issue ``cards`` cards in batches through the API."""
    client = Client(server.url)
    hq = {"Authorization": f"Bearer {tokens['hq']}"}
    for store in stores:
        status, doc = client.request(
            "POST",
            "/api/v1/stores",
            {"store_id": store, "name": f"Store {store}", "region": "east"},
            {**hq, "Idempotency-Key": _key()},
        )
        if status != 201:
            raise RuntimeError(f"creating store {store}: {status} {doc}")
    pool = Pool([], [])
    left = cards
    while left > 0:
        n = min(left, 1000)
        status, doc = client.request(
            "POST",
            "/api/v1/cards",
            {"batch_ref": f"LOAD-{left}", "cards": [{"product": "Load tea"}] * n, "active": True},
            {**hq, "Idempotency-Key": _key()},
        )
        if status != 201:
            raise RuntimeError(f"issuing cards: {status} {doc}")
        for card in doc["cards"]:
            pool.add(card["card_number"], card["redemption_code"])
        left -= n
    random.shuffle(pool.unredeemed)
    return pool


@dataclass
class Tally:
    """Latencies (seconds) and outcomes of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)


def _one(
    client: Client,
    kind: str,
    pool: Pool,
    tokens: dict[str, str],
    stores: list[str],
    rng: random.Random,
) -> tuple[bool, str]:
    visitor = {
        "X-Forwarded-For": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    }
    if kind == "lookup":
        with pool.lock:
            number = rng.choice(pool.numbers)
        status, _ = client.request("GET", f"/api/v1/public/cards/{number}", headers=visitor)
        return status == 200, f"lookup {status}"
    if kind == "redeem":
        taken = pool.take()
        if taken is None:
            return False, "redeem: card pool exhausted (raise --cards)"
        number, code = taken
        store = rng.choice(stores)
        status, doc = client.request(
            "POST",
            f"/api/v1/cards/{number}/redeem",
            {"redemption_code": code},
            {"Authorization": f"Bearer {tokens[store]}", "Idempotency-Key": _key()},
        )
        return status == 200, f"redeem {status} {doc and doc.get('code')}"
    status, doc = client.request(
        "POST",
        "/api/v1/cards",
        {"batch_ref": "LOAD-LIVE", "cards": [{"product": "Load wine"}], "active": True},
        {"Authorization": f"Bearer {tokens['hq']}", "Idempotency-Key": _key()},
    )
    if status == 201:
        card = doc["cards"][0]
        pool.add(card["card_number"], card["redemption_code"])
    return status == 201, f"issue {status} {doc and doc.get('code')}"


def drive(
    server: Server,
    pool: Pool,
    tokens: dict[str, str],
    stores: list[str],
    clients: int,
    seconds: float,
    seed: int = 1,
) -> tuple[dict[str, Tally], float]:
    """Run ``clients`` threads of mixed traffic for ``seconds``; tallies per kind and wall time."""
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    tallies = {k: Tally() for k in kinds}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        client = Client(server.url)
        while time.perf_counter() < stop_at:
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            try:
                ok, what = _one(client, kind, pool, tokens, stores, rng)
            except (OSError, http.client.HTTPException) as exc:
                ok, what = False, f"{kind}: {type(exc).__name__}"
                client = Client(server.url)
            elapsed = time.perf_counter() - started
            with lock:
                tally = tallies[kind]
                tally.latencies.append(elapsed)
                if not ok:
                    tally.errors += 1
                    if len(tally.error_examples) < 5:
                        tally.error_examples.append(what)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tallies, time.perf_counter() - started


def _row(kind: str, latencies: list[float], errors: int, wall: float) -> str:
    n = len(latencies)
    if n == 0:
        return f"{kind:8} {0:>9}"
    lat = latency(latencies)
    return (
        f"{kind:8} {n:>9,} {n / wall:>8.1f} {errors:>7} {100 * errors / n:>6.2f} "
        f"{1000 * lat['p50']:>8.1f} {1000 * lat['p99']:>8.1f}"
    )


def report(tallies: dict[str, Tally], wall: float) -> list[str]:
    """The printed table: per kind and total (p50 and p99 by the nearest-rank rule)."""
    lines = [
        f"{'kind':8} {'requests':>9} {'req/s':>8} {'errors':>7} {'err %':>6} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    ]
    lines += [_row(kind, t.latencies, t.errors, wall) for kind, t in tallies.items()]
    everything = [x for t in tallies.values() for x in t.latencies]
    if everything:
        lines.append(_row("total", everything, sum(t.errors for t in tallies.values()), wall))
    for kind, tally in tallies.items():
        for example in tally.error_examples:
            lines.append(f"error example ({kind}): {example}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Start the server, prepare, drive, print; exit 1 if any request failed."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument(
        "--cards",
        type=int,
        default=None,
        help="cards issued before the run [enough for the redemptions]",
    )
    parser.add_argument("--stores", type=int, default=4)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="run on a fresh schema of this PostgreSQL server, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test [fresh SQLite]",
    )
    args = parser.parse_args(argv)
    if args.postgres:
        with postgres_schema(args.postgres) as url:
            return run(args, url)
    return run(args, None)


def run(args: argparse.Namespace, database_url: str | None) -> int:
    """One load run on ``database_url`` (None: a fresh SQLite file)."""
    stores = [f"S{i + 1}" for i in range(args.stores)]
    cards = args.cards or max(500, int(args.seconds * 150))
    with tempfile.TemporaryDirectory(prefix="cardtrail-load-") as tmp:
        data_dir = Path(tmp) / "data"
        log = Path(tmp) / "gunicorn.log"
        with serve(
            data_dir, database_url, workers=args.workers, threads=args.threads, log=log
        ) as server:
            tokens = mint_tokens(data_dir, database_url, stores)
            pool = prepare(server, tokens, stores, cards)
            print(
                f"gunicorn gthread: {args.workers} workers × {args.threads} threads on "
                f"{server.url}; database {'PostgreSQL' if database_url else 'SQLite'}; "
                f"{cards:,} cards issued; {args.clients} clients for {args.seconds:g} s"
            )
            tallies, wall = drive(server, pool, tokens, stores, args.clients, args.seconds)
        for line in report(tallies, wall):
            print(line)
    return 1 if any(t.errors for t in tallies.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
