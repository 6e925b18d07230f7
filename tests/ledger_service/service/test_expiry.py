"""Expiry: unused cards past their date get one EXPIRED event each, in batches."""

from __future__ import annotations

from datetime import timedelta

from ledger_helpers import HQ, STORE1, assert_refused_without_writing, issue, log_size, rows
from sqlalchemy import event

from ledger_service import errors
from ledger_service.actor import SYSTEM
from ledger_service.schema import cards
from ledger_service.service import expiry


def test_expire_due_closes_unused_cards_past_their_date(ledger, stores, clock):
    soon = (clock.now + timedelta(days=1)).isoformat()
    late = (clock.now + timedelta(days=30)).isoformat()
    due, code_due = issue(ledger, expires_at=soon)
    blocked, _ = issue(ledger, expires_at=soon)
    picking, code_picking = issue(ledger, expires_at=soon)
    later, _ = issue(ledger, expires_at=late)
    ledger.block(HQ, blocked)
    ledger.claim(HQ, picking, "cust")
    ledger.request_pickup(HQ, picking, "store", code_picking, store_id="S1")
    assert ledger.expire_due(SYSTEM) == 0
    clock.advance(days=2)
    assert_refused_without_writing(ledger, errors.CardExpired, ledger.redeem, STORE1, due, code_due)
    size = log_size(ledger)
    assert ledger.expire_due() == 2
    assert log_size(ledger) == size + 2
    assert {n: ledger.get_card(HQ, n)["state"] for n in (due, blocked, picking, later)} == {
        due: "EXPIRED",
        blocked: "EXPIRED",
        picking: "PICKUP_REQUESTED",
        later: "ISSUED",
    }
    expired = ledger.card_history(due).events[-1].event
    assert (expired["type"], expired["occurred_at"]) == ("EXPIRED", "2026-11-25T06:00:00.000Z")
    assert ledger.expire_due() == 0
    assert_refused_without_writing(ledger, errors.CardExpired, ledger.redeem, STORE1, due, code_due)


def test_expire_due_works_through_more_than_one_batch(ledger, clock, monkeypatch):
    monkeypatch.setattr(expiry, "EXPIRY_BATCH", 3)
    soon = (clock.now + timedelta(hours=1)).isoformat()
    ledger.issue_cards(HQ, "B1", [{"product": "Tea", "expires_at": soon}] * 7, active=True)
    clock.advance(hours=2)
    commits: list[int] = []

    def on_commit(conn):
        commits.append(1)

    event.listen(ledger._engine, "commit", on_commit)
    try:
        assert ledger.expire_due() == 7
    finally:
        event.remove(ledger._engine, "commit", on_commit)
    assert len(commits) == 3, "batches of 3, 3 and 1, each its own transaction"
    assert len(rows(ledger, cards, cards.c.state == "EXPIRED")) == 7
