"""Fixtures for the portal tests: a Ledger on the app's database and a recorded anchor.

Cards are made through the real :class:`~ledger_service.service.Ledger`. "Anchoring" here
records a deployment and a checkpoint of the log's real root in the database, as the
worker would after a confirmed transaction, without a chain; tests that need the chain
itself (the browser test) deploy on a real node.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from anchoring import checkpoints
from anchoring.cardmap_store import append_card_map
from anchoring.db import write_transaction
from anchoring.log import MerkleLog
from anchoring.types import AnchoredCheckpoint
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.service import Ledger
from portal.console import CSRF_KEY

HQ = Actor("hq", "tok_hq_test")
CONTRACT = "0x" + "5f" * 20


class MillisecondClock:
    """A clock that ticks one second per call, at millisecond precision like the events."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> datetime:
        start = datetime(2026, 11, 24, 6, 17, 10, 123000, tzinfo=UTC)
        return start + timedelta(seconds=next(self._ticks))


@dataclass
class Cards:
    """Makes cards and moves them through their life on the app's database."""

    ledger: Ledger
    engine: object

    def store(self, store_id: str = "S1", name: str = "Shanghai Nanjing Road") -> str:
        self.ledger.create_store(HQ, store_id, name, "east")
        return store_id

    def issue(self, product: str = "Moutai 53% 500ml", **extra) -> tuple[str, str]:
        """A new card: (number, redemption code)."""
        issued = self.ledger.issue_cards(HQ, "B-TEST", [{"product": product, **extra}], active=True)
        card = issued["cards"][0]
        return card["card_number"], card["redemption_code"]

    def anchor(
        self, chain_id: int = 31337, contract: str = CONTRACT, card_map: bool = False
    ) -> AnchoredCheckpoint:
        """Record the log's current head as anchored (as the worker does after confirming).

        With ``card_map``, first append the ``CARD_MAP`` leaf as the worker does, so the
        anchored tree ends with it and bundles are version 2; without, the checkpoint is
        one from before the card map (version 1 bundles).
        """
        with write_transaction(self.engine) as conn:
            if card_map:
                append_card_map(conn, datetime.now(UTC))
            deployment = checkpoints.current_deployment(conn) or checkpoints.record_deployment(
                conn, chain_id, contract, "0x" + "de" * 20, "0x" + "01" * 32, 1
            )
            head = MerkleLog(conn).checkpoint()
            checkpoints.record_checkpoint(
                conn,
                deployment,
                head,
                "0x" + head.root.hex(),
                2 + head.tree_size,
                "0x" + head.root[::-1].hex(),
            )
            return checkpoints.latest_anchored(conn)


@pytest.fixture
def cards(app) -> Cards:
    """A :class:`Cards` helper on the app's database (SQLite, then PostgreSQL)."""
    rt = app.extensions["cardtrail"]
    return Cards(Ledger(rt.engine, rt.secret_key, clock=MillisecondClock()), rt.engine)


# --- a console signed in over HTTP (the books, stores and money pages) ---


@dataclass
class Console:
    """A test client signed in to the console, posting with its CSRF token."""

    client: Any

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            return session.get(CSRF_KEY, "")

    def post(self, path: str, data: dict[str, Any] | None = None):
        return self.client.post(path, data={"csrf_token": self.csrf(), **(data or {})})

    def get(self, path: str):
        return self.client.get(path)


@pytest.fixture
def signed_in(app):
    """A console signed in as ``who`` (hq, auditor, S1); returns it and its token id."""
    rt = app.extensions["cardtrail"]

    def sign_in(who: str) -> tuple[Console, str]:
        role, store = ("store", who) if who.startswith("S") else (who, None)
        made = create_token(rt.engine, rt.secret_key, role, store)
        console = Console(app.test_client())
        console.get("/console/login")
        response = console.post("/console/login", {"token": made.token})
        assert response.status_code == 303
        return console, f"tok_{made.id}"

    return sign_in
