"""A command over HTTP is one write transaction: reservation, command, traces and answer.

Redeem is the hot path and is tested most; the other card commands, stores, issuance and
pickups go through the same transaction runner and are held to one commit each."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from anchoring.db import read_transaction
from ledger_service.idempotency import IdempotencyStore
from ledger_service.schema import anomalies, cards, code_failures, idempotency_keys, pickups


@pytest.fixture
def card(api):
    issued = api.post(
        "/cards", {"batch_ref": "B", "cards": [{"product": "x"}], "active": True}
    ).get_json()
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


# --- stores, issuance and pickups run the same way -----------------------------------------


def _issue(api, body=None, key="i1"):
    return api.post("/cards", body or {"batch_ref": "B2", "cards": [{"product": "x"}] * 3}, key=key)


def test_create_store_commits_once(api, write_commits, count_rows):
    body = {"store_id": "S9", "name": "Store S9", "region": "west"}
    assert api.post("/stores", body).status_code == 201
    assert len(write_commits) == 1
    again = api.post("/stores", body)
    assert again.get_json()["code"] == "STORE_EXISTS"
    assert len(write_commits) == 2, "the refusal's answer is kept in one commit too"


def test_issuance_commits_once_with_one_event_per_card(api, write_commits, log_size):
    before = log_size()
    issued = _issue(api)
    assert issued.status_code == 201
    assert len(write_commits) == 1
    assert [c["leaf_index"] for c in issued.get_json()["cards"]] == [before, before + 1, before + 2]
    assert log_size() == before + 3


def test_refused_issuance_writes_only_its_answer(api, write_commits, count_rows, log_size):
    before, card_count = log_size(), count_rows(cards)
    body = {
        "batch_ref": "B2",
        "cards": [{"product": "x"}, {"product": "y", "allowed_stores": ["S9"]}],
    }
    refused = _issue(api, body)
    assert refused.get_json()["code"] == "STORE_NOT_FOUND"
    assert len(write_commits) == 1
    assert (log_size(), count_rows(cards)) == (before, card_count)
    replayed = _issue(api, body)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_data() == refused.get_data()


def test_issuance_failing_before_its_answer_is_stored_leaves_no_card_and_no_key(
    api, monkeypatch, count_rows, log_size
):
    real = IdempotencyStore._complete
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk went away")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(IdempotencyStore, "_complete", flaky)
    before, card_count, keys = log_size(), count_rows(cards), count_rows(idempotency_keys)
    assert _issue(api).status_code == 500
    assert (log_size(), count_rows(cards), count_rows(idempotency_keys)) == (
        before,
        card_count,
        keys,
    )
    retried = _issue(api)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert (log_size(), count_rows(cards)) == (before + 3, card_count + 3)


def test_racing_identical_issuances_issue_once(app, api, count_rows, log_size):
    before, card_count = log_size(), count_rows(cards)
    barrier = threading.Barrier(4)
    responses = []

    def racer():
        client = type(api)(app.test_client(), api.tokens)
        barrier.wait()
        responses.append(_issue(client, key="race"))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.get_data() for r in responses}) == 1
    assert (log_size(), count_rows(cards)) == (before + 3, card_count + 3)


@pytest.fixture
def claimed(api, card):
    """The card, claimed by a holder: ready for a pickup."""
    assert api.post(f"/cards/{card['card_number']}/claim", {"holder_ref": "h"}).status_code == 200
    return card


def _pickup(api, card, key="p1", code=None, **where):
    body = {"redemption_code": code or card["redemption_code"]}
    body.update(where or {"mode": "store", "store_id": "S1"})
    return api.post(f"/cards/{card['card_number']}/pickups", body, key=key)


def test_every_pickup_step_commits_once(api, claimed, write_commits, log_size):
    before = log_size()
    pickup = _pickup(api, claimed)
    assert pickup.status_code == 201
    pickup_id = pickup.get_json()["pickup_id"]
    assert api.post(f"/pickups/{pickup_id}/ready", {}, who="S1").status_code == 200
    handover = {"credential": "card_code", "code": claimed["redemption_code"]}
    done = api.post(f"/pickups/{pickup_id}/complete", handover, who="S1")
    assert done.get_json()["state"] == "PICKUP_COMPLETED"
    assert len(write_commits) == 3
    assert log_size() == before + 3


def test_a_delivery_is_shipped_in_one_commit(api, claimed, write_commits, log_size):
    pickup = _pickup(api, claimed, mode="delivery", address_ref="addr-1")
    assert pickup.status_code == 201
    pickup_id = pickup.get_json()["pickup_id"]
    assert api.post(f"/pickups/{pickup_id}/review", {}).status_code == 200
    shipped = api.post(f"/pickups/{pickup_id}/ship", {"carrier": "SF", "tracking_number": "SF1"})
    assert shipped.get_json()["state"] == "PICKUP_SHIPPED"
    assert len(write_commits) == 3


def test_refused_pickup_request_keeps_its_wrong_code_and_answer_in_one_commit(
    api, claimed, write_commits, count_rows, log_size
):
    before = log_size()
    refused = _pickup(api, claimed, code=_wrong(claimed["redemption_code"]))
    assert refused.get_json()["code"] == "INVALID_CODE"
    assert refused.get_json()["attempts_left"] == 4
    assert len(write_commits) == 1
    assert count_rows(code_failures) == 1
    assert count_rows(pickups) == 0, "the refused request left no pickup behind"
    assert log_size() == before


def test_refused_pickup_step_keeps_its_anomaly_and_answer_in_one_commit(
    api, claimed, write_commits, count_rows, log_size
):
    pickup_id = _pickup(api, claimed).get_json()["pickup_id"]
    size, noted = log_size(), count_rows(anomalies)
    foreign = api.post(f"/pickups/{pickup_id}/ready", {}, who="S2")
    assert foreign.get_json()["code"] == "STORE_NOT_ALLOWED"
    assert len(write_commits) == 2
    assert count_rows(anomalies) == noted + 1
    assert log_size() == size
    again = api.post(f"/pickups/{pickup_id}/ready", {}, who="S2", key="again")
    assert again.get_json()["code"] == "STORE_NOT_ALLOWED"
    assert count_rows(anomalies) == noted + 2


def test_pickup_step_failing_before_its_answer_is_stored_leaves_no_event_and_no_key(
    app, api, claimed, monkeypatch, count_rows, log_size
):
    pickup_id = _pickup(api, claimed).get_json()["pickup_id"]
    real = IdempotencyStore._complete
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk went away")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(IdempotencyStore, "_complete", flaky)
    before, keys = log_size(), count_rows(idempotency_keys)
    assert api.post(f"/pickups/{pickup_id}/ready", {}, who="S1", key="r").status_code == 500
    assert (log_size(), count_rows(idempotency_keys)) == (before, keys)
    assert _state(app, claimed["card_number"]) == "PICKUP_REQUESTED"
    retried = api.post(f"/pickups/{pickup_id}/ready", {}, who="S1", key="r")
    assert retried.get_json()["state"] == "PICKUP_READY"
    assert log_size() == before + 1
