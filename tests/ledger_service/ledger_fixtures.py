"""Fixtures for the Ledger tests (service, imports, expiry); test modules import them.

They live apart from conftest.py, which holds the HTTP API's fixtures.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from ledger_service import db
from ledger_service.actor import Actor
from ledger_service.service import Ledger


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock starting at 2026-11-24 06:00 UTC."""
    return Clock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))


@pytest.fixture
def ledger(engine, clock):
    """A Ledger on a freshly migrated database (SQLite, then PostgreSQL)."""
    db.upgrade(engine)
    return Ledger(engine, secrets.token_bytes(32), clock=clock)


@pytest.fixture
def stores(ledger) -> None:
    """Stores S1 and S2 in region north, S3 in region south."""
    hq = Actor("hq", "tok_hq")
    for store_id, region in (("S1", "north"), ("S2", "north"), ("S3", "south")):
        ledger.create_store(hq, store_id, f"Store {store_id}", region)
