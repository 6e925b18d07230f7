"""The ingest section's Ledger-direct measurement: every card issued is one logged event."""

from __future__ import annotations

import sqlalchemy as sa

from anchoring.db import create_engine, read_transaction
from bench.ingest import ledger_direct
from ledger_service.schema import cards


def test_ledger_direct_issues_every_card_once_in_batches_and_times_it(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    try:
        wall, cpu, events = ledger_direct(engine, cards=250, batch=100)
        with read_transaction(engine) as conn:
            issued = conn.execute(sa.select(sa.func.count()).select_from(cards)).scalar_one()
    finally:
        engine.dispose()
    assert issued == 250
    assert events >= 250  # one ISSUED event per card, beside what creating the stores logs
    assert wall > 0 and cpu > 0
