"""100 redeem requests for one card over real HTTP: exactly one wins (SQLite and PostgreSQL)."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

RACERS = 100


@pytest.fixture
def server(app) -> Iterator[int]:
    """The app behind a threaded werkzeug server on a free 127.0.0.1 port."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()
        thread.join(10)


def test_100_concurrent_redeems_of_one_card_give_one_success(api, server, log_size):
    [card] = api.post(
        "/cards", {"batch_ref": "B", "cards": [{"product": "Moutai"}], "active": True}
    ).get_json()["cards"]
    before = log_size()
    body = json.dumps({"redemption_code": card["redemption_code"]})
    path = f"/api/v1/cards/{card['card_number']}/redeem"
    barrier = threading.Barrier(RACERS)
    results: list[tuple[int, str]] = []

    def racer(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=120)
        headers = {
            "Authorization": f"Bearer {api.tokens['S1']}",
            "Idempotency-Key": f"redeem-{n}",
            "Content-Type": "application/json",
        }
        try:
            conn.connect()
            barrier.wait()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            doc = json.loads(response.read())
            results.append((response.status, doc.get("code") or doc.get("state")))
        finally:
            conn.close()

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert Counter(results) == {(200, "REDEEMED"): 1, (409, "CARD_ALREADY_USED"): RACERS - 1}
    assert log_size() == before + 1
    view = api.get(f"/cards/{card['card_number']}").get_json()
    assert [e["type"] for e in view["events"]] == ["ISSUED", "REDEEMED"]


def test_concurrent_retries_of_one_redeem_execute_it_once_and_replay_it(api, server, log_size):
    """Same Idempotency-Key, same body, sent at once: group commit may put the twins in one
    shared transaction, where the first reservation is visible to the others at once."""
    batch = {"batch_ref": "B", "active": True, "cards": [{"product": "Tea"}]}
    [card] = api.post("/cards", batch).get_json()["cards"]
    before = log_size()
    body = json.dumps({"redemption_code": card["redemption_code"]})
    path = f"/api/v1/cards/{card['card_number']}/redeem"
    twins = 20
    barrier = threading.Barrier(twins)
    results: list[tuple[int, bytes, str | None]] = []

    def twin() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=120)
        headers = {
            "Authorization": f"Bearer {api.tokens['S1']}",
            "Idempotency-Key": "one-redeem",
            "Content-Type": "application/json",
        }
        try:
            conn.connect()
            barrier.wait()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            results.append(
                (response.status, response.read(), response.getheader("Idempotent-Replayed"))
            )
        finally:
            conn.close()

    threads = [threading.Thread(target=twin) for _ in range(twins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert len(results) == twins
    assert {status for status, _, _ in results} == {200}
    assert len({answer for _, answer, _ in results}) == 1
    assert [replayed for _, _, replayed in results].count(None) == 1
    assert log_size() == before + 1
