"""The customer's own API: card number and code, no token; rate-limited and locked."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request

from apptools import set_limits

from cardtrail.run import web_server
from ledger_service.customer_api import KEY_HEADER
from ledger_service.domain import pickups as rules
from ledger_service.problems import PROBLEM_JSON

WRONG = "AAAA-AAAA-AAAA"


def _issue(api) -> tuple[str, str]:
    body = {"batch_ref": "B1", "active": True, "cards": [{"product": "Moutai 500ml"}]}
    response = api.post("/cards", body)
    assert response.status_code == 201, response.get_json()
    card = response.get_json()["cards"][0]
    return card["card_number"], card["redemption_code"]


def _customer(api, path, body, key=None):
    """POST as a customer: no Authorization header at all."""
    return api.post(f"/customer{path}", body, who=None, key=key)


def _store_pickup(api, number, code):
    """The customer asks for the card's goods at store S1."""
    asked = _customer(
        api,
        f"/cards/{number}/pickups",
        {"mode": "store", "store_id": "S1", "redemption_code": code},
    )
    assert asked.status_code == 201, asked.get_json()
    return asked.get_json()


def _opened(api, path, key):
    """GET a customer's pickup or gift with its key in the header, as the page does."""
    return api.get(f"/customer{path}", who=None, headers={KEY_HEADER: key})


def _problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["code"] == code
    return response.get_json()


def test_a_customer_claims_and_checks_a_code_without_a_token(api):
    number, code = _issue(api)
    checked = _customer(api, f"/cards/{number}/verify", {"redemption_code": code})
    assert checked.status_code == 200
    assert checked.get_json() == {"card_number": number, "valid": True, "state": "ISSUED"}
    wrong = _problem(
        _customer(api, f"/cards/{number}/verify", {"redemption_code": WRONG}), 403, "INVALID_CODE"
    )
    assert wrong["attempts_left"] == 4
    claimed = _customer(
        api, f"/cards/{number}/claim", {"redemption_code": code, "holder_ref": "13800000000"}
    )
    assert claimed.get_json()["state"] == "CLAIMED"
    events = api.get(f"/cards/{number}").get_json()["events"]
    assert events[-1]["actor"] == {"role": "customer", "id": "card"}


def test_customer_posts_need_an_idempotency_key_and_replay_the_same_answer(api):
    number, code = _issue(api)
    missing = api.client.post(
        f"/api/v1/customer/cards/{number}/verify", json={"redemption_code": code}
    )
    _problem(missing, 422, "VALIDATION_FAILED")
    first = _customer(
        api, f"/cards/{number}/claim", {"redemption_code": code, "holder_ref": "h"}, key="k1"
    )
    again = _customer(
        api, f"/cards/{number}/claim", {"redemption_code": code, "holder_ref": "h"}, key="k1"
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_a_store_pickup_is_requested_followed_and_completed_with_the_rotating_code(api, app):
    number, code = _issue(api)
    asked = _customer(
        api,
        f"/cards/{number}/pickups",
        {"mode": "store", "store_id": "S1", "day": "2099-01-01", "redemption_code": code},
    )
    _problem(asked, 422, "VALIDATION_FAILED")  # a day too far ahead
    asked = _customer(
        api,
        f"/cards/{number}/pickups",
        {"mode": "store", "store_id": "S1", "redemption_code": code},
    )
    assert asked.status_code == 201, asked.get_json()
    pickup = asked.get_json()
    assert pickup["page_url"] == f"/customer/pickups/{pickup['pickup_id']}#{pickup['access_key']}"
    path = f"/pickups/{pickup['pickup_id']}"
    _problem(_opened(api, path, "0" * 32), 404, "PICKUP_NOT_FOUND")
    shown = _opened(api, path, pickup["access_key"]).get_json()
    assert shown["state"] == "PICKUP_REQUESTED" and len(shown["rotating_code"]) == 6
    assert api.post(f"/pickups/{pickup['pickup_id']}/ready", {}, who="S1").status_code == 200
    # The store's device learns the code's secret, and checks the customer's code with it.
    [ready] = api.get("/pickups/ready", who="S1").get_json()["pickups"]
    assert ready["pickup_id"] == pickup["pickup_id"]
    shown = _opened(api, path, pickup["access_key"]).get_json()
    assert rules.rotating_code_matches(ready["code_secret"], shown["rotating_code"], rules_now())
    done = api.post(
        f"/pickups/{pickup['pickup_id']}/complete",
        {
            "credential": "rotating_code",
            "code": shown["rotating_code"],
            "serials": ["MT-2026-0001"],
        },
        who="S1",
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "PICKUP_COMPLETED"
    final = _opened(api, path, pickup["access_key"]).get_json()
    assert final["serials"] == ["MT-2026-0001"] and "rotating_code" not in final


def rules_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_a_store_completion_without_the_customers_credential_is_refused(api):
    number, code = _issue(api)
    pickup = _store_pickup(api, number, code)
    api.post(f"/pickups/{pickup['pickup_id']}/ready", {}, who="S1")
    _problem(
        api.post(f"/pickups/{pickup['pickup_id']}/complete", {}, who="S1"), 422, "VALIDATION_FAILED"
    )
    _problem(
        api.post(
            f"/pickups/{pickup['pickup_id']}/complete",
            {"credential": "rotating_code", "code": "000000"},
            who="S1",
        ),
        403,
        "INVALID_CODE",
    )
    ok = api.post(
        f"/pickups/{pickup['pickup_id']}/complete",
        {"credential": "card_code", "code": code},
        who="S1",
    )
    assert ok.get_json()["state"] == "PICKUP_COMPLETED"


def test_a_customer_cancels_and_moves_a_pickup_with_the_code(api):
    number, code = _issue(api)
    pickup = _store_pickup(api, number, code)
    moved = _customer(
        api, f"/pickups/{pickup['pickup_id']}/move", {"store_id": "S2", "redemption_code": code}
    )
    assert moved.get_json()["state"] == "PICKUP_REQUESTED"
    _problem(
        _customer(api, f"/pickups/{pickup['pickup_id']}/cancel", {"redemption_code": WRONG}),
        403,
        "INVALID_CODE",
    )
    cancelled = _customer(api, f"/pickups/{pickup['pickup_id']}/cancel", {"redemption_code": code})
    assert cancelled.get_json()["state"] == "ISSUED"
    lost = _customer(api, f"/cards/{number}/pickup", {"redemption_code": code}).get_json()
    assert lost["pickup"] is None


def test_a_delivery_by_the_customer_goes_through_review_shipping_and_delivery(api):
    number, code = _issue(api)
    asked = _customer(
        api,
        f"/cards/{number}/pickups",
        {"mode": "delivery", "address": "北京市朝阳区 1 号", "redemption_code": code},
    )
    pickup = asked.get_json()["pickup_id"]
    again = _customer(api, f"/cards/{number}/pickup", {"redemption_code": code}).get_json()
    assert again["pickup"]["pickup_id"] == pickup
    assert api.post(f"/pickups/{pickup}/review", {}).get_json()["state"] == "PICKUP_REVIEWED"
    _problem(api.post(f"/pickups/{pickup}/ship", {"carrier": "SF"}), 422, "VALIDATION_FAILED")
    shipped = api.post(
        f"/pickups/{pickup}/ship", {"carrier": "SF Express", "tracking_number": "SF1234567890"}
    )
    assert shipped.get_json()["state"] == "PICKUP_SHIPPED"
    progress = _opened(api, f"/pickups/{pickup}", again["pickup"]["access_key"]).get_json()
    assert (progress["carrier"], progress["tracking_number"]) == ("SF Express", "SF1234567890")
    assert api.post(f"/pickups/{pickup}/complete", {}).get_json()["state"] == "PICKUP_COMPLETED"


def test_a_gift_link_is_accepted_once_with_a_new_code(api):
    number, code = _issue(api)
    offer = _customer(api, f"/cards/{number}/gift", {"redemption_code": code})
    assert offer.status_code == 201, offer.get_json()
    offer = offer.get_json()
    assert offer["share_url"].endswith(f"/customer/gifts/{offer['offer_id']}#{offer['token']}")
    view = _opened(api, f"/gifts/{offer['offer_id']}", offer["token"])
    assert view.get_json()["state"] == "open"
    _problem(_opened(api, f"/gifts/{offer['offer_id']}", "nope"), 404, "GIFT_NOT_FOUND")
    body = {"token": offer["token"], "holder_ref": "friend-1"}
    accepted = _customer(api, f"/gifts/{offer['offer_id']}/accept", body, key="acc-1")
    assert accepted.get_json()["state"] == "TRANSFERRED"
    # A retry of the same request (a lost answer) gets the same new code, not a refusal.
    replay = _customer(api, f"/gifts/{offer['offer_id']}/accept", body, key="acc-1")
    assert replay.get_json()["redemption_code"] == accepted.get_json()["redemption_code"]
    _problem(_customer(api, f"/gifts/{offer['offer_id']}/accept", body), 409, "GIFT_OFFER_EXPIRED")
    new_code = accepted.get_json()["redemption_code"]
    assert (
        _customer(api, f"/cards/{number}/verify", {"redemption_code": new_code}).status_code == 200
    )


def test_the_giver_withdraws_a_gift_and_its_link_answers_withdrawn(api):
    number, code = _issue(api)
    offer = _customer(api, f"/cards/{number}/gift", {"redemption_code": code}).get_json()
    withdraw = f"/cards/{number}/gift/withdraw"
    _problem(_customer(api, withdraw, {"redemption_code": WRONG}), 403, "INVALID_CODE")
    withdrawn = _customer(api, withdraw, {"redemption_code": code}, key="wd-1")
    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert withdrawn.get_json()["offer_state"] == "withdrawn"
    assert withdrawn.get_json()["state"] == "ISSUED"
    replay = _customer(api, withdraw, {"redemption_code": code}, key="wd-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == withdrawn.get_json()
    # A second tap, with a key of its own, answers the same withdrawal.
    assert _customer(api, withdraw, {"redemption_code": code}).get_json() == withdrawn.get_json()
    view = _opened(api, f"/gifts/{offer['offer_id']}", offer["token"]).get_json()
    assert view["state"] == "withdrawn"
    body = {"token": offer["token"], "holder_ref": "friend-1"}
    refused = _problem(
        _customer(api, f"/gifts/{offer['offer_id']}/accept", body), 409, "GIFT_OFFER_WITHDRAWN"
    )
    assert "withdrew" in refused["detail"]


def test_a_gift_accepted_cannot_be_withdrawn(api):
    number, code = _issue(api)
    offer = _customer(api, f"/cards/{number}/gift", {"redemption_code": code}).get_json()
    body = {"token": offer["token"], "holder_ref": "friend-1"}
    assert _customer(api, f"/gifts/{offer['offer_id']}/accept", body).status_code == 200
    _problem(
        _customer(api, f"/cards/{number}/gift/withdraw", {"redemption_code": code}),
        409,
        "INVALID_TRANSITION",
    )


def test_customer_routes_are_rate_limited_per_card_across_clients(api, app):
    number, code = _issue(api)
    set_limits(app, customer_per_card=(2, 60.0))
    for _ in range(2):
        _customer(api, f"/cards/{number}/verify", {"redemption_code": WRONG})
    limited = _problem(
        _customer(api, f"/cards/{number}/verify", {"redemption_code": code}), 429, "RATE_LIMITED"
    )
    assert limited["retry_after"] >= 1
    other, other_code = _issue(api)
    assert (
        _customer(api, f"/cards/{other}/verify", {"redemption_code": other_code}).status_code == 200
    )


def test_customer_routes_are_rate_limited_per_client(api, app):
    number, code = _issue(api)
    set_limits(app, customer_per_client=(1, 60.0))
    assert _customer(api, f"/cards/{number}/verify", {"redemption_code": code}).status_code == 200
    _problem(
        _customer(api, f"/cards/{number}/verify", {"redemption_code": code}), 429, "RATE_LIMITED"
    )


def _served(app, requests):
    """Send ``requests`` (path, headers) through the dev server of ``cardtrail up``; returns
    each answer's status and body, and the server's access log lines."""
    server = web_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answers = []
    log = logging.getLogger("werkzeug")
    lines: list[str] = []
    collect = logging.Handler()
    collect.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    log.addHandler(collect)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        for path, headers in requests:
            url = f"http://127.0.0.1:{server.server_port}{path}"
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
                    answers.append((r.status, r.read()))
            except urllib.error.HTTPError as refused:
                answers.append((refused.code, refused.read()))
    finally:
        log.removeHandler(collect)
        log.setLevel(level)
        server.shutdown()
        thread.join(10)
    return answers, lines


def test_a_pickup_key_and_a_gift_token_open_only_from_the_header_and_stay_out_of_the_log(api, app):
    set_limits(app, customer_per_client=None)
    number, code = _issue(api)
    pickup = _store_pickup(api, number, code)
    gift_number, gift_code = _issue(api)
    offer = _customer(api, f"/cards/{gift_number}/gift", {"redemption_code": gift_code}).get_json()
    page = f"/api/v1/customer/pickups/{pickup['pickup_id']}"
    link = f"/api/v1/customer/gifts/{offer['offer_id']}"
    secrets = (pickup["access_key"], offer["token"])
    answers, lines = _served(
        app,
        [
            (page, {KEY_HEADER: pickup["access_key"]}),
            (link, {KEY_HEADER: offer["token"]}),
            (f"/customer/pickups/{pickup['pickup_id']}/code.svg", {KEY_HEADER: secrets[0]}),
            # An outdated client: refused, and its request logged without the key.
            (f"{page}?key={secrets[0]}", {}),
            (f"{link}?token={secrets[1]}", {}),
        ],
    )
    progress, view = json.loads(answers[0][1]), json.loads(answers[1][1])
    assert progress["state"] == "PICKUP_REQUESTED" and len(progress["rotating_code"]) == 6
    assert view["state"] == "open"
    assert answers[2][1].startswith(b"<svg")
    assert [status for status, _ in answers] == [200, 200, 200, 422, 422]
    assert len(lines) == 5 and "?key=…" in lines[3] and "?token=…" in lines[4], lines
    assert not any(secret in line for line in lines for secret in secrets), lines
    # A client that still puts them in the URL is refused, though the key is right.
    for path, name, secret in [(page, "key", secrets[0]), (link, "token", secrets[1])]:
        refused = api.client.get(path, query_string={name: secret})
        problem = _problem(refused, 422, "VALIDATION_FAILED")
        assert problem["errors"] == [
            {"loc": f"query.{name}", "message": f"not allowed: use {KEY_HEADER}"}
        ]
        assert secret not in refused.get_data(as_text=True)
        both = api.client.get(path, query_string={name: secret}, headers={KEY_HEADER: secret})
        _problem(both, 422, "VALIDATION_FAILED")
    qr = f"/customer/pickups/{pickup['pickup_id']}/code.svg"
    assert api.client.get(qr, query_string={"key": secrets[0]}).status_code == 404
