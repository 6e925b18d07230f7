"""Measure batched issuance through the Ledger directly: events per second.

    .venv/bin/python scripts/bench_ingest.py [--cards 50000] [--batch 5000] [--postgres URL]

Each run uses a fresh database (a temporary SQLite file; a throw-away PostgreSQL schema
when the server answers) and prints the measured rate per database. The HTTP figures are
measured separately, through the API.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
import uuid

import sqlalchemy as sa

from anchoring.db import create_engine, read_transaction
from anchoring.log import MerkleLog
from ledger_service import db
from ledger_service.actor import Actor
from ledger_service.service import Ledger

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HQ = Actor("hq", "bench")


def card(n: int) -> dict[str, object]:
    """A realistic card: value, currency, a store list, an expiry date, a row key."""
    return {
        "product": "Moutai Feitian 500ml 53%vol",
        "face_value": 149900,
        "currency": "CNY",
        "allowed_stores": ["S1", "S2"],
        "expires_at": "2027-12-31T23:59:59Z",
        "row_key": f"row-{n}",
    }


def bench(engine: sa.Engine, cards: int, batch: int) -> tuple[float, float, int]:
    """Issue ``cards`` cards in batches of ``batch``; return (wall s, CPU s, events logged).

    CPU seconds are this process's only (the database server's are not included).
    """
    db.upgrade(engine)
    ledger = Ledger(engine, secrets.token_bytes(32))
    for store_id in ("S1", "S2"):
        ledger.create_store(HQ, store_id, store_id, "north")
    specs = [card(n) for n in range(cards)]
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, cards, batch):
        ledger.issue_cards(HQ, "bench", specs[start : start + batch])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    with read_transaction(engine) as conn:
        size = MerkleLog(conn).size()
    return elapsed, cpu, size


def report(name: str, elapsed: float, cpu: float, events: int, batch: int) -> None:
    print(
        f"{name:<11} {events:>7} events in {elapsed:6.2f} s = {events / elapsed:6.0f} events/s "
        f"(client CPU {cpu:5.2f} s = {events / cpu:6.0f} events per CPU-second; batches of {batch})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL ('' to skip)")
    args = parser.parse_args()
    # Other work on the machine slows the wall-clock figure: show how busy it was.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/bench.db")
        try:
            report("SQLite", *bench(engine, args.cards, args.batch), args.batch)
        finally:
            engine.dispose()

    if not args.postgres:
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL  skipped: {str(exc).splitlines()[0]}")
        return
    sep = "&" if "?" in args.postgres else "?"
    engine = create_engine(f"{args.postgres}{sep}options=-csearch_path%3D{schema}")
    try:
        report("PostgreSQL", *bench(engine, args.cards, args.batch), args.batch)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
