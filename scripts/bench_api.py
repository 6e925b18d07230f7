"""Events per second through the merchant API over real HTTP.

Starts gunicorn (gthread workers) on a free 127.0.0.1 port against a fresh data directory,
then measures two paths end to end — token check, body validation, idempotency record,
the Ledger's transaction and the log append:

* batched issuance: ``POST /api/v1/cards`` with ``--batch`` cards per request, one ISSUED
  event per card (the target is >= 5,000 events/s on SQLite);
* single redeems: ``POST /api/v1/cards/{number}/redeem``, one REDEEMED event per request,
  from ``--clients`` concurrent keep-alive connections.

    .venv/bin/python scripts/bench_api.py                       # SQLite in a temp dir
    .venv/bin/python scripts/bench_api.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

Use an empty PostgreSQL database (or schema via ``?options=-csearch_path%3D...``): the
benchmark issues cards into it. Rate limits are switched off for the run: one token sends
all the load, which is exactly what the per-token limit exists to refuse.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anchoring.db import create_engine  # noqa: E402
from ledger_service import db  # noqa: E402
from ledger_service.auth import create_token  # noqa: E402
from ledger_service.config import Settings  # noqa: E402

APP = 'cardtrail.app:create_app(test_config={"API_RATE_LIMIT": None})'


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], workers: int, threads: int) -> Iterator[int]:
    """gunicorn serving CardTrail on a free port; stopped (TERM, then KILL) on exit."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
        "--workers", str(workers), "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning", APP,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {process.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/openapi.json")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not answer within 60 s") from None
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Client:
    """One keep-alive connection sending JSON with a token and fresh idempotency keys."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.token = token

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        }
        self.conn.request("POST", path, body=json.dumps(body), headers=headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())


def bench_issuance(port: int, token: str, total: int, batch: int) -> list[dict[str, Any]]:
    """Issue ``total`` cards in batches; print events/s; return the issued cards."""
    client = Client(port, token)
    cards: list[dict[str, Any]] = []
    started = time.perf_counter()
    for n in range(0, total, batch):
        size = min(batch, total - n)
        body = {
            "batch_ref": f"bench-{n}",
            "cards": [
                {"product": "Bench tea 250g", "face_value": 5000, "currency": "CNY",
                 "allowed_stores": ["S1"], "expires_at": "2099-12-31T23:59:59Z"}
            ] * size,
        }
        status, doc = client.post("/api/v1/cards", body)
        if status != 201:
            raise SystemExit(f"issuance failed: {status} {doc}")
        cards.extend(doc["cards"])
    elapsed = time.perf_counter() - started
    print(f"batched issuance: {len(cards):,} events in {elapsed:.2f} s "
          f"= {len(cards) / elapsed:,.0f} events/s ({batch:,} cards per request)")
    return cards


def bench_redeems(port: int, token: str, cards: list[dict[str, Any]], clients: int) -> None:
    """Redeem each card once from ``clients`` connections; print redeems/s and latency."""
    queue = iter(cards)
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[Any] = []

    def work() -> None:
        client = Client(port, token)
        while True:
            with lock:
                card = next(queue, None)
            if card is None:
                return
            path = f"/api/v1/cards/{card['card_number']}/redeem"
            sent = time.perf_counter()
            status, doc = client.post(path, {"redemption_code": card["redemption_code"]})
            took = time.perf_counter() - sent
            with lock:
                latencies.append(took)
                if status != 200:
                    failures.append((status, doc.get("code")))

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} redeems failed, e.g. {failures[0]}")
    cuts = statistics.quantiles(latencies, n=100)
    print(f"single redeems:   {len(latencies):,} events in {elapsed:.2f} s "
          f"= {len(latencies) / elapsed:,.0f} events/s from {clients} clients "
          f"(latency p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms)")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, prepare a deployment, run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary data directory")
    parser.add_argument("--cards", type=int, default=50_000, help="cards to issue (default 50,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="cards per request (max 10,000)")
    parser.add_argument("--redeems", type=int, default=2_000, help="single redeems (default 2,000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent redeem clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cardtrail-bench-api-") as tmp:
        env = {"CARDTRAIL_DATA_DIR": tmp}
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        settings = Settings.from_env(tmp, environ=env)
        engine = create_engine(settings.database_url)
        try:
            db.upgrade(engine)
            hq = create_token(engine, settings.secret_key(), "hq").token
            store = create_token(engine, settings.secret_key(), "store", "S1").token
        finally:
            engine.dispose()
        print(f"database: {settings.database_url.split('@')[-1]}; gunicorn "
              f"{args.workers} workers x {args.threads} threads on 127.0.0.1")
        with gunicorn(env, args.workers, args.threads) as port:
            status, doc = Client(port, hq).post(
                "/api/v1/stores", {"store_id": "S1", "name": "Bench store", "region": "north"}
            )
            if status != 201:
                raise SystemExit(f"store creation failed: {status} {doc}")
            cards = bench_issuance(port, hq, max(args.cards, args.redeems), args.batch)
            bench_redeems(port, store, cards[: args.redeems], args.clients)


if __name__ == "__main__":
    main()
