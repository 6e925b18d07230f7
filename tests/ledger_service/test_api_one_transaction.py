"""A redeem over HTTP is one write transaction: reservation, command, traces and answer."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from anchoring.db import read_transaction
from ledger_service.idempotency import IdempotencyStore
from ledger_service.schema import anomalies, cards, code_failures, idempotency_keys


@pytest.fixture
def card(api):
    issued = api.post("/cards", {"batch_ref": "B", "cards": [{"product": "x"}]}).get_json()
    return issued["cards"][0]


@pytest.fixture
def write_commits(app):
    """A list that gets one entry per committed write transaction from now on."""
    engine = app.extensions["cardtrail"].engine
    commits: list[int] = []

    def on_commit(conn):
        if conn.get_execution_options().get("cardtrail_write"):
            commits.append(1)

    event.listen(engine, "commit", on_commit)
    yield commits
    event.remove(engine, "commit", on_commit)


def _wrong(code: str) -> str:
    return "2222-2222-2222" if code != "2222-2222-2222" else "3333-3333-3333"


def _state(app, number: str) -> str:
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        return conn.execute(sa.select(cards.c.state).where(cards.c.number == number)).scalar_one()


def _redeem(api, card, code=None, key="r1"):
    body = {"redemption_code": code or card["redemption_code"]}
    return api.post(f"/cards/{card['card_number']}/redeem", body, who="S1", key=key)


def test_redeem_commits_once(api, card, write_commits, log_size):
    before = log_size()
    assert _redeem(api, card).status_code == 200
    assert len(write_commits) == 1
    assert log_size() == before + 1


def test_refused_redeem_keeps_its_traces_and_answer_in_one_commit(
    app, api, card, write_commits, count_rows, log_size
):
    before = log_size()
    first = _redeem(api, card, _wrong(card["redemption_code"]))
    assert first.get_json()["code"] == "INVALID_CODE"
    assert len(write_commits) == 1
    assert count_rows(code_failures) == 1
    again = _redeem(api, card, _wrong(card["redemption_code"]))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert count_rows(code_failures) == 1, "the replay did not count a second failure"
    assert log_size() == before, "a refusal writes nothing to the log"


def test_refusal_with_an_anomaly_commits_once(api, card, write_commits, count_rows, log_size):
    assert _redeem(api, card, key="first").status_code == 200
    size, noted = log_size(), count_rows(anomalies)
    used = _redeem(api, card, key="second")
    assert used.get_json()["code"] == "CARD_ALREADY_USED"
    assert len(write_commits) == 2
    assert count_rows(anomalies) == noted + 1
    assert log_size() == size


def test_failure_before_the_answer_is_stored_leaves_neither_event_nor_key(
    app, api, card, monkeypatch, count_rows, log_size
):
    real = IdempotencyStore._complete
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk went away")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(IdempotencyStore, "_complete", flaky)
    before, keys = log_size(), count_rows(idempotency_keys)
    assert _redeem(api, card).status_code == 500
    assert log_size() == before
    assert count_rows(idempotency_keys) == keys
    assert _state(app, card["card_number"]) == "ISSUED"
    retried = _redeem(api, card)
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers
    assert log_size() == before + 1


def test_replay_after_success_returns_the_stored_answer(api, card, log_size):
    first = _redeem(api, card)
    size = log_size()
    again = _redeem(api, card)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert log_size() == size


def test_racing_identical_redeems_execute_once(app, api, card, log_size):
    before = log_size()
    barrier = threading.Barrier(8)
    responses = []

    def racer():
        client = type(api)(app.test_client(), api.tokens)
        barrier.wait()
        responses.append(_redeem(client, card, key="race"))

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.get_data() for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert log_size() == before + 1


def test_same_key_for_another_redeem_is_a_mismatch(api, card, log_size):
    assert _redeem(api, card).status_code == 200
    size = log_size()
    other = _redeem(api, card, _wrong(card["redemption_code"]))
    assert other.get_json()["code"] == "IDEMPOTENCY_MISMATCH"
    assert log_size() == size


def test_other_card_commands_commit_once(api, card, write_commits):
    number = card["card_number"]
    assert api.post(f"/cards/{number}/claim", {"holder_ref": "h1"}).status_code == 200
    assert api.post(f"/cards/{number}/block", {"reason": "lost"}).status_code == 200
    assert api.post(f"/cards/{number}/unblock", {"reason": "found"}).status_code == 200
    body = {"redemption_code": card["redemption_code"], "to_holder_ref": "h2"}
    moved = api.post(f"/cards/{number}/transfer", body)
    assert moved.status_code == 200
    assert api.post(f"/cards/{number}/void", {"reason": "test"}).status_code == 200
    assert len(write_commits) == 5
    refused = api.post(f"/cards/{number}/block", {"reason": "again"})
    assert refused.status_code == 409
    assert len(write_commits) == 6
