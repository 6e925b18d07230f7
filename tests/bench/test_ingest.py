"""The ingest section: every card issued is one logged event, and redeemable."""

from __future__ import annotations

import sqlalchemy as sa

from anchoring.db import create_engine, read_transaction
from bench.http import prepare
from bench.ingest import _issue_requests, _keep_cards, ledger_direct, redeem_requests
from cardtrail.app import create_app
from ledger_service.config import Settings
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


def test_cards_issued_over_http_can_be_redeemed_by_the_redeem_requests(tmp_path):
    # The HTTP figures time issuing and then redeeming the same cards: cards issued as
    # stock (inactive) would be refused, and the section would measure refusals.
    url = f"sqlite:///{tmp_path / 'data' / 'cardtrail.db'}"
    deployment = prepare(tmp_path / "data", url)
    settings = Settings.from_env(deployment.data_dir, environ={"DATABASE_URL": url})
    client = create_app(settings).test_client()
    [(method, path, headers, body)] = list(_issue_requests(deployment, 1, "t"))
    issued = client.open(path, method=method, headers=headers, data=body)
    assert issued.status_code == 201, issued.get_json()
    kept = _keep_cards(issued.status_code, issued.get_data())
    assert isinstance(kept, list) and len(kept) == 1_000
    for method, path, headers, body in redeem_requests(deployment, kept[:3]):
        answer = client.open(path, method=method, headers=headers, data=body)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["state"] == "REDEEMED"
