"""Actors and small helpers for the tests of ``ledger_service.service``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service.actor import Actor
from ledger_service.schema import events

HQ = Actor("hq", "tok_hq")
AUDITOR = Actor("auditor", "tok_aud")
STORE1 = Actor("store", "tok_s1", store_id="S1")
STORE3 = Actor("store", "tok_s3", store_id="S3")


def issue(ledger, **fields):
    """Issue one card; return (number, redemption code)."""
    card = ledger.issue_cards(HQ, "B1", [{"product": "Tea 250g", **fields}], active=True)["cards"][
        0
    ]
    return card["card_number"], card["redemption_code"]


def log_size(ledger) -> int:
    """The size of the ledger's log."""
    with read_transaction(ledger._engine) as conn:
        return MerkleLog(conn).size()


def rows(ledger, table, *where) -> list:
    """The rows of ``table`` matching ``where``."""
    with read_transaction(ledger._engine) as conn:
        return conn.execute(sa.select(table).where(*where)).all()


def anomaly_kinds(ledger) -> list[str]:
    """The kinds of the anomalies recorded so far, newest first."""
    return [a["kind"] for a in ledger.anomalies(HQ)]


def assert_refused_without_writing(ledger, error, call, *args, **kwargs):
    """``call`` raises ``error`` and leaves the log and the events table unchanged."""
    size, count = log_size(ledger), len(rows(ledger, events))
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    assert (log_size(ledger), len(rows(ledger, events))) == (size, count)
    return caught.value
