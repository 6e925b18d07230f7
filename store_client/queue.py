"""The counter's queue of signed commands, on disk, in the order they were made."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger_service import devices

QUEUE = "queue.db"
"""The queue's file name in the client's home folder."""


@dataclass(frozen=True)
class QueuedItem:
    """One signed command waiting for (or decided by) the service."""

    seq: int
    client_id: str
    item: dict[str, Any] = field(repr=False)
    state: str
    result: dict[str, Any] | None


class Queue:
    """Signed commands on disk, in the order they were made.

    SQLite with ``synchronous=FULL``: once :meth:`add` returns, the command survives a
    crash or a power cut. A redemption code is kept only until the service has decided.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " client_id TEXT NOT NULL UNIQUE,"
            " item TEXT NOT NULL,"
            " state TEXT NOT NULL DEFAULT 'pending',"
            " result TEXT,"
            " queued_at TEXT NOT NULL,"
            " decided_at TEXT)"
        )
        # Pickups ready at this store, with the secret of each one's rotating code, so that
        # the counter checks the customer's code while offline. A secret goes with its
        # pickup's completion.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ready_pickups ("
            " pickup_id TEXT PRIMARY KEY,"
            " card_number TEXT NOT NULL,"
            " code_secret TEXT NOT NULL,"
            " fetched_at TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deployment ("
            " one INTEGER PRIMARY KEY CHECK (one = 1),"
            " chain_id INTEGER NOT NULL,"
            " contract TEXT NOT NULL,"
            " server TEXT NOT NULL,"
            " learned_at TEXT NOT NULL)"
        )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def deployment(self) -> devices.SigningDomain | None:
        """The deployment this device signs for, or None before its first contact."""
        row = self._db.execute("SELECT chain_id, contract FROM deployment").fetchone()
        return None if row is None else devices.SigningDomain(int(row[0]), str(row[1]))

    def remember_deployment(
        self, domain: devices.SigningDomain, server: str, now: datetime
    ) -> devices.SigningDomain:
        """Keep ``domain`` as this device's deployment unless it already has one; returns
        the deployment kept (the first one learned, for good)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO deployment (one, chain_id, contract, server, learned_at)"
                " VALUES (1, ?, ?, ?, ?)",
                (domain.chain_id, domain.contract, server, devices.timestamp(now)),
            )
            chain_id, contract = db.execute("SELECT chain_id, contract FROM deployment").fetchone()
        return devices.SigningDomain(int(chain_id), str(contract))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(self, item: dict[str, Any], now: datetime) -> int:
        """Queue a signed item; returns its position."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO queue (client_id, item, queued_at) VALUES (?, ?, ?)",
                (item["signature"]["client_id"], json.dumps(item), devices.timestamp(now)),
            )
        return int(cursor.lastrowid or 0)

    def pending(self, limit: int | None = None) -> list[QueuedItem]:
        """Items the service has not decided yet, oldest first."""
        return self._select("WHERE state = 'pending' ORDER BY seq", limit)

    def all(self) -> list[QueuedItem]:
        """Every item, oldest first."""
        return self._select("ORDER BY seq", None)

    def _select(self, where: str, limit: int | None) -> list[QueuedItem]:
        query = f"SELECT seq, client_id, item, state, result FROM queue {where}"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [
            QueuedItem(seq, cid, json.loads(item), state, json.loads(result) if result else None)
            for seq, cid, item, state, result in self._db.execute(query)
        ]

    def settle(self, results: list[dict[str, Any]], now: datetime) -> None:
        """Record the service's decisions; the codes of decided items are wiped."""
        with self._transaction() as db:
            for result in results:
                row = db.execute(
                    "SELECT item FROM queue WHERE client_id = ? AND state = 'pending'",
                    (result["client_id"],),
                ).fetchone()
                if row is None:
                    continue
                item = json.loads(row[0])
                for secret in ("redemption_code", "code"):
                    if item.get(secret) is not None:
                        item[secret] = None
                db.execute(
                    "UPDATE queue SET state = ?, result = ?, item = ?, decided_at = ?"
                    " WHERE client_id = ?",
                    (
                        result["status"],
                        json.dumps(result),
                        json.dumps(item),
                        devices.timestamp(now),
                        result["client_id"],
                    ),
                )

    def counts(self) -> dict[str, int]:
        """How many items are pending, accepted and refused."""
        out = {"pending": 0, "accepted": 0, "refused": 0}
        out.update(self._db.execute("SELECT state, count(*) FROM queue GROUP BY state"))
        return out

    def keep_ready(self, pickups: list[dict[str, Any]], now: datetime) -> int:
        """Replace the list of ready pickups with ``pickups`` (the service's, each with its
        ``code_secret``); returns how many."""
        with self._transaction() as db:
            db.execute("DELETE FROM ready_pickups")
            db.executemany(
                "INSERT INTO ready_pickups (pickup_id, card_number, code_secret, fetched_at)"
                " VALUES (?, ?, ?, ?)",
                [
                    (p["pickup_id"], p["card_number"], p["code_secret"], devices.timestamp(now))
                    for p in pickups
                ],
            )
        return len(pickups)

    def ready(self, pickup_id: str) -> tuple[str, str] | None:
        """(card number, code secret) of a ready pickup this device knows, or None."""
        row = self._db.execute(
            "SELECT card_number, code_secret FROM ready_pickups WHERE pickup_id = ?",
            (pickup_id,),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def ready_ids(self) -> list[str]:
        """The ready pickups this device knows."""
        return [r[0] for r in self._db.execute("SELECT pickup_id FROM ready_pickups")]

    def add_completion(self, item: dict[str, Any], now: datetime) -> int:
        """Queue a signed pickup completion and forget its pickup's code secret, in one
        transaction: a pickup is handed over once."""
        with self._transaction() as db:
            db.execute("DELETE FROM ready_pickups WHERE pickup_id = ?", (item["pickup_id"],))
            cursor = db.execute(
                "INSERT INTO queue (client_id, item, queued_at) VALUES (?, ?, ?)",
                (item["signature"]["client_id"], json.dumps(item), devices.timestamp(now)),
            )
        return int(cursor.lastrowid or 0)
