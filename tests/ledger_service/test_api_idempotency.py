"""Idempotency keys: replay, mismatch, per-token scope, encrypted storage, races."""

from __future__ import annotations

import hashlib
import json
import threading

import sqlalchemy as sa

from anchoring.db import read_transaction
from ledger_service import devices
from ledger_service.auth import create_token
from ledger_service.idempotency import fingerprint
from ledger_service.schema import idempotency_keys
from ledger_service.service import Ledger

ISSUE = {"batch_ref": "B1", "cards": [{"product": "Tea"}, {"product": "Coffee"}]}


def test_same_key_and_body_replays_the_first_answer(api, log_size):
    before = log_size()
    first = api.post("/cards", ISSUE, key="issue-1")
    again = api.post("/cards", ISSUE, key="issue-1")
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert log_size() == before + 2, "the batch was issued once"


def test_same_key_with_another_body_or_path_is_a_mismatch(api, log_size):
    assert api.post("/cards", ISSUE, key="k").status_code == 201
    size = log_size()
    other = {"batch_ref": "B1", "cards": [{"product": "Tea"}]}
    for response in (
        api.post("/cards", other, key="k"),
        api.post("/stores", {"store_id": "S3", "name": "n", "region": "r"}, key="k"),
    ):
        assert response.status_code == 422
        assert response.get_json()["code"] == "IDEMPOTENCY_MISMATCH"
    assert log_size() == size


def test_keys_belong_to_their_token(app, api):
    rt = app.extensions["cardtrail"]
    api.tokens["hq2"] = create_token(rt.engine, rt.secret_key, "hq").token
    body = {"store_id": "S3", "name": "n", "region": "r"}
    assert api.post("/stores", body, key="shared").status_code == 201
    # The same key from another token is a new request: it runs, and finds the store.
    other = api.post("/stores", body, who="hq2", key="shared")
    assert other.get_json()["code"] == "STORE_EXISTS"
    assert "Idempotent-Replayed" not in other.headers


def test_refusal_is_replayed_without_running_again(api):
    [card] = api.post(
        "/cards", {"batch_ref": "B", "cards": [{"product": "x"}], "active": True}
    ).get_json()["cards"]
    number = card["card_number"]
    wrong = "2222-2222-2222" if card["redemption_code"] != "2222-2222-2222" else "3333-3333-3333"
    first = api.post(f"/cards/{number}/redeem", {"redemption_code": wrong}, who="S1", key="r1")
    again = api.post(f"/cards/{number}/redeem", {"redemption_code": wrong}, who="S1", key="r1")
    assert first.get_json()["code"] == again.get_json()["code"] == "INVALID_CODE"
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.get(f"/cards/{number}").get_json()["code_failures"] == 1


def test_stored_answers_are_encrypted(app, api):
    cards = api.post("/cards", ISSUE, key="secret-batch").get_json()["cards"]
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        stored = conn.execute(
            sa.select(idempotency_keys.c.response).where(idempotency_keys.c.key == "secret-batch")
        ).scalar_one()
    stored = bytes(stored)
    for card in cards:
        assert card["redemption_code"].encode() not in stored
        assert card["card_number"].encode() not in stored


def _unkeyed_sha256(method: str, path: str, body: bytes) -> str:
    """The request hash as stored before it was keyed: what a database thief can recompute."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _stored_hash(app, key: str) -> str:
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        return conn.execute(
            sa.select(idempotency_keys.c.request_hash).where(idempotency_keys.c.key == key)
        ).scalar_one()


def test_stored_request_hash_cannot_test_guessed_codes_without_the_secret(app, api):
    [card] = api.post(
        "/cards", {"batch_ref": "B", "cards": [{"product": "x"}], "active": True}
    ).get_json()["cards"]
    path = f"/api/v1/cards/{card['card_number']}/redeem"
    body = json.dumps({"redemption_code": card["redemption_code"]}).encode()
    response = api.post(
        path.removeprefix("/api/v1"),
        who="S1",
        key="guess-me",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.get_json()
    stored = _stored_hash(app, "guess-me")
    # Someone with the database and the right guess still cannot confirm it...
    assert stored != _unkeyed_sha256("POST", path, body)
    assert stored != fingerprint(b"\0" * 32, "POST", path, body)
    # ...while the server, holding the secret, recognises its replay.
    assert stored == fingerprint(app.extensions["cardtrail"].secret_key, "POST", path, body)


def test_a_record_hashed_before_the_upgrade_is_refused_not_run_again(app, api, log_size):
    body = {"batch_ref": "old", "cards": [{"product": "Tea"}]}
    raw = json.dumps(body).encode()
    first = api.post(
        "/cards", key="from-before", data=raw, headers={"Content-Type": "application/json"}
    )
    assert first.status_code == 201
    with app.extensions["cardtrail"].engine.begin() as conn:
        conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == "from-before")
            .values(request_hash=_unkeyed_sha256("POST", "/api/v1/cards", raw))
        )
    size = log_size()
    retry = api.post(
        "/cards", key="from-before", data=raw, headers={"Content-Type": "application/json"}
    )
    assert retry.status_code == 422
    assert retry.get_json()["code"] == "IDEMPOTENCY_MISMATCH"
    assert log_size() == size


def test_unexpected_failure_releases_the_key(api, monkeypatch):
    real = Ledger.create_store
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "create_store", flaky)
    body = {"store_id": "S3", "name": "n", "region": "r"}
    assert api.post("/stores", body, key="s3").status_code == 500
    retried = api.post("/stores", body, key="s3")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert len(calls) == 2


def _blocking_create_store(monkeypatch, release: threading.Event):
    real = Ledger.create_store
    entered = threading.Event()

    def blocked(self, *args, **kwargs):
        entered.set()
        release.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "create_store", blocked)
    return entered


def test_second_request_waits_for_the_first_and_replays_it(app, api, monkeypatch):
    release = threading.Event()
    entered = _blocking_create_store(monkeypatch, release)
    body = {"store_id": "S3", "name": "n", "region": "r"}
    results = {}
    worker = threading.Thread(
        target=lambda: results.update(first=api.post("/stores", body, key="slow"))
    )
    worker.start()
    assert entered.wait(10)
    threading.Timer(0.3, release.set).start()
    second = type(api)(app.test_client(), api.tokens).post("/stores", body, key="slow")
    worker.join(10)
    assert results["first"].status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_data() == results["first"].get_data()


def test_a_request_still_running_is_reported_in_progress(app, api, monkeypatch):
    # Registering a device key reserves its key, runs and stores the answer in three
    # transactions (the ledger's commands share one, where a twin waits on the database).
    release, entered = threading.Event(), threading.Event()
    real = devices.KeyRegistry.register

    def blocked(self, *args, **kwargs):
        entered.set()
        release.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(devices.KeyRegistry, "register", blocked)
    body = {"address": "0x" + "ab" * 20}
    worker = threading.Thread(target=lambda: api.post("/stores/S1/keys", body, key="stuck"))
    worker.start()
    try:
        assert entered.wait(10)
        other = type(api)(app.test_client(), api.tokens)
        app.extensions["cardtrail"].idempotency.wait = 0.2
        response = other.post("/stores/S1/keys", body, key="stuck")
        assert response.status_code == 409
        assert response.get_json()["code"] == "IDEMPOTENCY_IN_PROGRESS"
    finally:
        release.set()
        worker.join(10)


def test_identical_requests_racing_execute_once(app, api, log_size):
    before = log_size()
    body = {"batch_ref": "race", "cards": [{"product": "Tea"}]}
    barrier = threading.Barrier(8)
    responses = []

    def racer():
        client = type(api)(app.test_client(), api.tokens)
        barrier.wait()
        responses.append(client.post("/cards", body, key="race"))

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.get_data() for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert log_size() == before + 1
