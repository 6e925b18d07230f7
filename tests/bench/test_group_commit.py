"""The group-commit section: cards issued for the redeems, and the side-by-side target."""

from __future__ import annotations

import sqlalchemy as sa

from anchoring.db import create_engine, read_transaction
from bench.group_commit import _section, issue
from bench.http import prepare
from ledger_service.actor import Actor
from ledger_service.schema import cards
from ledger_service.service import Ledger


def _mode(rate: float, p99: float) -> dict:
    return {
        "redeems_per_s": {"median": rate, "min": rate, "max": rate, "runs": 1},
        "latency_ms": {"p50": p99 / 2, "p99": p99, "max": p99, "count": 10},
    }


def test_issue_gives_every_card_with_its_code_sold_and_redeemable(tmp_path):
    url = f"sqlite:///{tmp_path / 'gc.db'}"
    deployment = prepare(tmp_path / "data", url)
    issued = issue(deployment, 1_200)
    engine = create_engine(url)
    try:
        with read_transaction(engine) as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(cards)).scalar_one()
        # Sold cards: the section redeems them, and a card still in stock is refused.
        ledger = Ledger(engine, deployment.secret_key)
        redeemed = ledger.redeem(Actor("store", "bench", store_id="S1"), *issued[0])
    finally:
        engine.dispose()
    assert count == 1_200
    assert len({number for number, _ in issued}) == 1_200
    assert all(code for _, code in issued)
    assert redeemed["state"] == "REDEEMED"


def test_the_target_needs_three_times_the_previous_design_and_a_p99_of_100_ms():
    section = _section(
        {
            "SQLite": {"previous design": _mode(100, 900), "group commit": _mode(320, 90)},
            "PostgreSQL": {"previous design": _mode(100, 900), "group commit": _mode(320, 140)},
        }
    )
    assert [t.met for t in section.targets] == [True, False]
    (header, rows) = section.tables[0]
    assert len(rows) == 4 and rows[1][-1] == "3.20×"


def test_a_database_that_does_not_answer_is_reported_skipped():
    section = _section({"PostgreSQL": {"skipped": "PostgreSQL does not answer"}})
    assert section.targets[0].met is None
