"""The merchant API's contract: every endpoint, every role rule, every error code.

Runs on SQLite and on PostgreSQL (the ``app`` fixture follows ``db_url``).
"""

from __future__ import annotations

from typing import Any

from apptools import set_limits

from ledger_service.auth import revoke_token
from ledger_service.problems import PROBLEM_JSON


def issue(api, *cards: dict[str, Any], batch_ref: str = "B1") -> list[dict[str, Any]]:
    response = api.post(
        "/cards",
        {"batch_ref": batch_ref, "cards": list(cards) or [{"product": "Tea"}], "active": True},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["cards"]


def claimed(api, *cards: dict[str, Any]) -> list[dict[str, Any]]:
    """Issued cards that a holder has claimed (transfers and pickups start there)."""
    out = issue(api, *cards)
    for card in out:
        response = api.post(f"/cards/{card['card_number']}/claim", {"holder_ref": "crm-1"})
        assert response.status_code == 200, response.get_json()
    return out


def problem(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    doc = response.get_json()
    assert doc["code"] == code
    assert doc["status"] == status
    assert {"type", "title", "detail"} <= doc.keys()
    return doc


# --- stores ---------------------------------------------------------------------------


def test_created_stores_are_listed_for_every_role(api):
    for who in ("hq", "auditor", "S1"):
        response = api.get("/stores", who=who)
        assert response.status_code == 200
        assert [(s["store_id"], s["region"]) for s in response.get_json()["stores"]] == [
            ("S1", "north"),
            ("S2", "south"),
        ]


def test_create_store_answers_201_with_the_store(api):
    response = api.post("/stores", {"store_id": "S3", "name": "Airport", "region": "east"})
    assert response.status_code == 201
    place = dict.fromkeys(("address", "city", "opening_hours", "latitude", "longitude"))
    assert response.get_json() == {"store_id": "S3", "name": "Airport", "region": "east", **place}


def test_duplicate_store_is_refused(api):
    problem(
        api.post("/stores", {"store_id": "S1", "name": "Again", "region": "north"}),
        409,
        "STORE_EXISTS",
    )


def test_only_hq_creates_stores(api):
    for who in ("S1", "auditor"):
        response = api.post("/stores", {"store_id": "S9", "name": "X", "region": "r"}, who=who)
        problem(response, 403, "FORBIDDEN")


# --- issuing and reading --------------------------------------------------------------


def test_issue_batch_returns_numbers_codes_and_consecutive_leaves(api, log_size):
    before = log_size()
    cards = issue(
        api,
        {
            "product": "Moutai 500ml",
            "face_value": 150000,
            "currency": "CNY",
            "allowed_stores": ["S1"],
            "expires_at": "2099-12-31T23:59:59Z",
            "holder_ref": "crm-1",
        },
        {"product": "Tea 250g"},
        {"product": "Mooncake box", "allowed_regions": ["south"]},
    )
    assert [c["leaf_index"] for c in cards] == [before, before + 1, before + 2]
    assert len({c["card_number"] for c in cards}) == 3
    assert all(len(c["card_number"]) == 17 and c["redemption_code"] for c in cards)
    assert log_size() == before + 3


def test_batch_of_cards_is_all_or_nothing(api, log_size):
    before = log_size()
    response = api.post(
        "/cards",
        {
            "batch_ref": "B2",
            "cards": [{"product": "ok"}, {"product": "x", "allowed_stores": ["NOPE"]}],
        },
    )
    problem(response, 404, "STORE_NOT_FOUND")
    assert log_size() == before


def test_merchant_view_shows_state_and_events(api):
    [card] = issue(api, {"product": "Tea", "allowed_stores": ["S1"]})
    number = card["card_number"]
    for who in ("hq", "auditor", "S1"):
        view = api.get(f"/cards/{number}", who=who)
        assert view.status_code == 200
        doc = view.get_json()
        assert (doc["card_number"], doc["state"]) == (number, "ISSUED")
        assert [e["type"] for e in doc["events"]] == ["ISSUED"]
        assert card["redemption_code"] not in view.get_data(as_text=True)


def test_card_number_accepts_separators_and_lower_case(api):
    [card] = issue(api)
    number = card["card_number"]
    spaced = "-".join(number[i : i + 4] for i in range(0, 17, 4)).lower()
    assert api.get(f"/cards/{spaced}").get_json()["card_number"] == number


def test_unknown_card_is_not_found(api):
    [card] = issue(api)
    # A well-formed number that no card has: change the body, fix the check character.
    from ledger_service.domain.numbers import check_character

    body = ("3" if card["card_number"][0] != "3" else "4") + card["card_number"][1:16]
    problem(api.get(f"/cards/{body + check_character(body)}"), 404, "CARD_NOT_FOUND")


def test_mistyped_card_number_is_refused_before_lookup(api):
    [card] = issue(api)
    number = card["card_number"]
    swapped = number[1] + number[0] + number[2:] if number[0] != number[1] else number[:-1] + "2"
    problem(api.get(f"/cards/{swapped}"), 422, "INVALID_CARD_NUMBER")


def test_only_hq_issues_cards(api, log_size):
    before = log_size()
    for who in ("S1", "auditor"):
        response = api.post("/cards", {"batch_ref": "B", "cards": [{"product": "x"}]}, who=who)
        problem(response, 403, "FORBIDDEN")
    assert log_size() == before


# --- lifecycle commands ---------------------------------------------------------------


def test_claim_then_claim_again_is_an_invalid_transition(api):
    [card] = issue(api)
    number = card["card_number"]
    response = api.post(f"/cards/{number}/claim", {"holder_ref": "crm-7"})
    assert response.status_code == 200
    assert response.get_json() == {
        "card_number": number,
        "state": "CLAIMED",
        "leaf_index": card["leaf_index"] + 1,
    }
    problem(api.post(f"/cards/{number}/claim", {"holder_ref": "crm-8"}), 409, "INVALID_TRANSITION")


def test_transfer_replaces_the_redemption_code(api):
    [card] = claimed(api, {"product": "Tea", "allowed_stores": ["S1"]})
    number, old = card["card_number"], card["redemption_code"]
    response = api.post(
        f"/cards/{number}/transfer", {"redemption_code": old, "to_holder_ref": "friend"}
    )
    assert response.status_code == 200
    moved = response.get_json()
    assert moved["state"] == "TRANSFERRED" and moved["redemption_code"] != old
    problem(
        api.post(f"/cards/{number}/redeem", {"redemption_code": old}, who="S1"), 403, "INVALID_CODE"
    )
    redeemed = api.post(
        f"/cards/{number}/redeem", {"redemption_code": moved["redemption_code"]}, who="S1"
    )
    assert redeemed.status_code == 200


def test_redeem_twice_is_rejected(api):
    [card] = issue(api, {"product": "Tea", "allowed_stores": ["S1"]})
    number, code = card["card_number"], card["redemption_code"]
    first = api.post(f"/cards/{number}/redeem", {"redemption_code": code}, who="S1")
    assert first.status_code == 200
    assert first.get_json()["state"] == "REDEEMED"
    problem(
        api.post(f"/cards/{number}/redeem", {"redemption_code": code}, who="S1"),
        409,
        "CARD_ALREADY_USED",
    )


def test_redeem_at_a_store_the_card_does_not_allow_is_refused(api, log_size):
    [card] = issue(api, {"product": "Tea", "allowed_stores": ["S1"]})
    before = log_size()
    response = api.post(
        f"/cards/{card['card_number']}/redeem",
        {"redemption_code": card["redemption_code"]},
        who="S2",
    )
    problem(response, 403, "STORE_NOT_ALLOWED")
    assert log_size() == before


def test_redeem_outside_the_cards_region_is_refused(api):
    [card] = issue(api, {"product": "Tea", "allowed_regions": ["north"]})
    body = {"redemption_code": card["redemption_code"]}
    problem(
        api.post(f"/cards/{card['card_number']}/redeem", body, who="S2"), 403, "STORE_NOT_ALLOWED"
    )
    assert api.post(f"/cards/{card['card_number']}/redeem", body, who="S1").status_code == 200


def test_store_token_acting_for_another_store_is_forbidden(api):
    [card] = issue(api)
    body = {"redemption_code": card["redemption_code"], "store_id": "S2"}
    problem(
        api.post(f"/cards/{card['card_number']}/redeem", body, who="S1"), 403, "STORE_NOT_ALLOWED"
    )


def test_hq_may_redeem_naming_the_store(api):
    [card] = issue(api, {"product": "Tea", "allowed_stores": ["S2"]})
    body = {"redemption_code": card["redemption_code"], "store_id": "S2"}
    response = api.post(f"/cards/{card['card_number']}/redeem", body)
    assert response.status_code == 200
    view = api.get(f"/cards/{card['card_number']}").get_json()
    assert view["events"][-1]["store_id"] == "S2"


def test_auditor_cannot_redeem(api):
    [card] = issue(api)
    body = {"redemption_code": card["redemption_code"]}
    problem(api.post(f"/cards/{card['card_number']}/redeem", body, who="auditor"), 403, "FORBIDDEN")


def test_wrong_codes_lock_the_code(api, log_size):
    [card] = issue(api)
    number = card["card_number"]
    wrong = "2222-2222-2222" if card["redemption_code"] != "2222-2222-2222" else "3333-3333-3333"
    before = log_size()
    for _ in range(5):
        problem(
            api.post(f"/cards/{number}/redeem", {"redemption_code": wrong}, who="S1"),
            403,
            "INVALID_CODE",
        )
    locked = api.post(
        f"/cards/{number}/redeem", {"redemption_code": card["redemption_code"]}, who="S1"
    )
    doc = problem(locked, 423, "CODE_LOCKED")
    assert doc["retry_after"] > 0
    assert int(locked.headers["Retry-After"]) == doc["retry_after"]
    assert log_size() == before, "refusals never reach the log"


def test_blocked_card_cannot_be_used_until_unblocked(api):
    [card] = issue(api)
    number, body = card["card_number"], {"redemption_code": card["redemption_code"]}
    assert (
        api.post(f"/cards/{number}/block", {"reason": "reported stolen"}).get_json()["state"]
        == "BLOCKED"
    )
    problem(api.post(f"/cards/{number}/redeem", body, who="S1"), 409, "CARD_BLOCKED")
    assert api.post(f"/cards/{number}/unblock", {"reason": "found"}).get_json()["state"] == "ISSUED"
    assert api.post(f"/cards/{number}/redeem", body, who="S1").status_code == 200


def test_voided_card_cannot_be_used(api):
    [card] = issue(api)
    number = card["card_number"]
    assert api.post(f"/cards/{number}/void", {"reason": "misprint"}).get_json()["state"] == "VOIDED"
    body = {"redemption_code": card["redemption_code"]}
    problem(api.post(f"/cards/{number}/redeem", body, who="S1"), 409, "CARD_VOIDED")


def test_expired_card_cannot_be_used(api):
    [card] = issue(api, {"product": "Tea", "expires_at": "2001-01-01T00:00:00Z"})
    body = {"redemption_code": card["redemption_code"]}
    problem(api.post(f"/cards/{card['card_number']}/redeem", body, who="S1"), 409, "CARD_EXPIRED")


def test_store_tokens_cannot_run_headquarters_commands(api, log_size):
    [card] = issue(api)
    before = log_size()
    for command in ("claim", "block", "unblock", "void", "transfer", "pickups"):
        body = {
            "claim": {"holder_ref": "h"},
            "transfer": {"redemption_code": card["redemption_code"], "to_holder_ref": "h"},
            "pickups": {
                "mode": "store",
                "store_id": "S1",
                "redemption_code": card["redemption_code"],
            },
        }.get(command, {"reason": "r"})
        response = api.post(f"/cards/{card['card_number']}/{command}", body, who="S1")
        problem(response, 403, "FORBIDDEN")
    assert log_size() == before


# --- pickups --------------------------------------------------------------------------


def test_store_pickup_runs_ready_then_complete_at_its_own_store_only(api):
    [card] = claimed(api, {"product": "Moutai", "allowed_stores": ["S1", "S2"]})
    number, code = card["card_number"], card["redemption_code"]
    requested = api.post(
        f"/cards/{number}/pickups", {"mode": "store", "store_id": "S1", "redemption_code": code}
    )
    assert requested.status_code == 201
    pickup = requested.get_json()
    assert pickup["state"] == "PICKUP_REQUESTED" and pickup["leaf_index"] == card["leaf_index"] + 2
    pid = pickup["pickup_id"]
    problem(api.post(f"/pickups/{pid}/ready", who="S2"), 403, "STORE_NOT_ALLOWED")
    assert api.post(f"/pickups/{pid}/ready", who="S1").get_json()["state"] == "PICKUP_READY"
    handover = {"credential": "card_code", "code": code, "serials": ["MT-0001"]}
    problem(api.post(f"/pickups/{pid}/complete", handover, who="S2"), 403, "STORE_NOT_ALLOWED")
    done = api.post(f"/pickups/{pid}/complete", handover, who="S1")
    assert done.get_json()["state"] == "PICKUP_COMPLETED"
    problem(
        api.post(f"/cards/{number}/redeem", {"redemption_code": code}, who="S1"),
        409,
        "CARD_ALREADY_USED",
    )


def test_delivery_pickup_is_shipped_by_headquarters(api):
    [card] = claimed(api)
    body = {"mode": "delivery", "redemption_code": card["redemption_code"], "address_ref": "addr-9"}
    pid = api.post(f"/cards/{card['card_number']}/pickups", body).get_json()["pickup_id"]
    problem(api.post(f"/pickups/{pid}/ready"), 409, "INVALID_TRANSITION")
    shipment = {"carrier": "SF Express", "tracking_number": "SF1234567890"}
    problem(api.post(f"/pickups/{pid}/ship", shipment, who="S1"), 403, "FORBIDDEN")
    problem(api.post(f"/pickups/{pid}/ship", shipment), 409, "INVALID_TRANSITION")
    assert api.post(f"/pickups/{pid}/review", {}).get_json()["state"] == "PICKUP_REVIEWED"
    assert api.post(f"/pickups/{pid}/ship", shipment).get_json()["state"] == "PICKUP_SHIPPED"
    assert api.post(f"/pickups/{pid}/complete").get_json()["state"] == "PICKUP_COMPLETED"


def test_pickup_at_a_store_the_card_does_not_allow_is_refused(api):
    [card] = claimed(api, {"product": "Tea", "allowed_stores": ["S1"]})
    body = {"mode": "store", "store_id": "S2", "redemption_code": card["redemption_code"]}
    problem(api.post(f"/cards/{card['card_number']}/pickups", body), 403, "STORE_NOT_ALLOWED")


def test_unknown_pickup_is_not_found(api):
    problem(api.post("/pickups/pk_0000000000000000/ready"), 404, "PICKUP_NOT_FOUND")


def test_pickup_modes_take_only_their_own_fields(api, log_size):
    [card] = issue(api)
    before = log_size()
    body = {
        "mode": "store",
        "store_id": "S1",
        "redemption_code": card["redemption_code"],
        "address_ref": "a",
    }
    doc = problem(api.post(f"/cards/{card['card_number']}/pickups", body), 422, "VALIDATION_FAILED")
    assert doc["errors"] == [
        {"loc": "body.address_ref", "message": "Extra inputs are not permitted"}
    ]
    body = {"mode": "drone", "redemption_code": card["redemption_code"]}
    problem(api.post(f"/cards/{card['card_number']}/pickups", body), 422, "VALIDATION_FAILED")
    assert log_size() == before


# --- authentication -------------------------------------------------------------------


def test_requests_without_a_valid_token_are_unauthorized(api):
    for who in (None, "ct_000000000000_" + "0" * 40, "not-a-token"):
        response = api.get("/stores", who=who)
        problem(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = {"store_id": "S5", "name": "n", "region": "r"}
        problem(api.post("/stores", body, who=who), 401, "UNAUTHORIZED")
    assert [s["store_id"] for s in api.get("/stores").get_json()["stores"]] == ["S1", "S2"]


def test_revoked_token_is_unauthorized(app, api):
    token_id = api.tokens["S1"].split("_")[1]
    assert revoke_token(app.extensions["cardtrail"].engine, token_id)
    problem(api.get("/stores", who="S1"), 401, "UNAUTHORIZED")


def test_rate_limit_answers_429_with_retry_after(app, api):
    set_limits(app, api_per_token=(3, 60.0))
    for _ in range(3):
        assert api.get("/stores").status_code == 200
    response = api.get("/stores")
    doc = problem(response, 429, "RATE_LIMITED")
    assert 0 < int(response.headers["Retry-After"]) <= 60 and doc["retry_after"] > 0
    assert api.get("/stores", who="auditor").status_code == 200, "each token has its own budget"


# --- bad input never writes -----------------------------------------------------------

BAD_BODIES = {
    "malformed_json": b'{"batch_ref": "B", "cards": [',
    "not_utf8": b'{"batch_ref": "\xff", "cards": [{"product": "x"}]}',
    "not_an_object": b'[{"product": "x"}]',
    "empty_body": b"",
    "unknown_field": b'{"batch_ref": "B", "cards": [{"product": "x", "colour": "red"}]}',
    "unknown_top_level_field": b'{"batch_ref": "B", "cards": [{"product": "x"}], "dry_run": true}',
    "string_for_int": b'{"batch_ref": "B", "cards": [{"product": "x", "face_value": "100", "currency": "CNY"}]}',
    "bool_for_int": b'{"batch_ref": "B", "cards": [{"product": "x", "face_value": true, "currency": "CNY"}]}',
    "float_for_int": b'{"batch_ref": "B", "cards": [{"product": "x", "face_value": 1.5, "currency": "CNY"}]}',
    "negative_value": b'{"batch_ref": "B", "cards": [{"product": "x", "face_value": -1, "currency": "CNY"}]}',
    "huge_value": b'{"batch_ref": "B", "cards": [{"product": "x", "face_value": 1e400, "currency": "CNY"}]}',
    "huge_int": b'{"batch_ref": "B", "cards": [{"product": "x", "face_value": 99999999999999999999999, "currency": "CNY"}]}',
    "nul_in_string": b'{"batch_ref": "B\\u0000", "cards": [{"product": "x"}]}',
    "lone_surrogate": b'{"batch_ref": "\\ud800", "cards": [{"product": "x"}]}',
    "bad_timestamp": b'{"batch_ref": "B", "cards": [{"product": "x", "expires_at": "tomorrow"}]}',
    "timestamp_without_zone": b'{"batch_ref": "B", "cards": [{"product": "x", "expires_at": "2027-01-01T00:00:00"}]}',
    "no_cards": b'{"batch_ref": "B", "cards": []}',
    "missing_product": b'{"batch_ref": "B", "cards": [{"face_value": 1, "currency": "CNY"}]}',
    "value_without_currency": b'{"batch_ref": "B", "cards": [{"product": "x", "face_value": 1}]}',
    "null_product": b'{"batch_ref": "B", "cards": [{"product": null}]}',
    "bad_store_id": b'{"batch_ref": "B", "cards": [{"product": "x", "allowed_stores": ["S 1"]}]}',
}


def test_bad_issuance_bodies_are_refused_and_nothing_is_written(api, log_size, count_rows):
    from ledger_service.schema import idempotency_keys

    before, keys = log_size(), count_rows(idempotency_keys)
    wrong = {}
    # One database for all cases: building an app per case would dominate the run time.
    for name, raw in sorted(BAD_BODIES.items()):
        response = api.post("/cards", data=raw, content_type="application/json")
        doc = response.get_json(silent=True) or {}
        errors = doc.get("errors") or [{}]
        if (
            response.status_code != 422
            or response.mimetype != PROBLEM_JSON
            or doc.get("code") != "VALIDATION_FAILED"
            or not all({"loc", "message"} <= e.keys() for e in errors)
        ):
            wrong[name] = (response.status_code, doc)
    assert wrong == {}
    assert log_size() == before
    assert count_rows(idempotency_keys) == keys


def test_too_many_cards_in_one_batch_is_refused(api, log_size):
    before = log_size()
    body = {"batch_ref": "B", "cards": [{"product": "x"}] * 10_001}
    doc = problem(api.post("/cards", body), 422, "VALIDATION_FAILED")
    assert doc["errors"][0]["loc"] == "body.cards"
    assert log_size() == before


def test_oversized_body_is_refused_and_nothing_is_written(app, api, log_size):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    before = log_size()
    body = {"batch_ref": "B", "cards": [{"product": "x" * 100}] * 100}
    problem(api.post("/cards", body), 413, "PAYLOAD_TOO_LARGE")
    assert log_size() == before


def test_missing_idempotency_key_is_refused(api, log_size):
    before = log_size()
    response = api.client.post(
        "/api/v1/cards",
        json={"batch_ref": "B", "cards": [{"product": "x"}]},
        headers=api.headers("hq"),
    )
    doc = problem(response, 422, "VALIDATION_FAILED")
    assert doc["errors"][0]["loc"] == "header.Idempotency-Key"
    problem(
        api.post("/cards", {"batch_ref": "B", "cards": [{"product": "x"}]}, key="bad key\u00e9"),
        422,
        "VALIDATION_FAILED",
    )
    assert log_size() == before


def test_validation_errors_never_echo_the_submitted_code(api):
    [card] = issue(api)
    secret = card["redemption_code"]
    response = api.post(
        f"/cards/{card['card_number']}/redeem", {"redemption_code": secret, "x": secret}, who="S1"
    )
    problem(response, 422, "VALIDATION_FAILED")
    assert secret not in response.get_data(as_text=True)


# --- the edge itself ------------------------------------------------------------------


def test_unknown_api_route_and_wrong_method_are_problems(api):
    problem(api.get("/nothing-here"), 404, "NOT_FOUND")
    response = api.client.delete("/api/v1/stores", headers=api.headers("hq"))
    problem(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_unexpected_failure_is_a_500_problem_without_internals(app, api, monkeypatch):
    from ledger_service.service import Ledger

    def broken(self, actor):
        raise RuntimeError("connection string postgresql://admin:hunter2@db")

    monkeypatch.setattr(Ledger, "list_stores", broken)
    response = api.get("/stores")
    problem(response, 500, "INTERNAL_ERROR")
    assert "hunter2" not in response.get_data(as_text=True)


def test_path_parameters_with_control_characters_are_refused(api, log_size):
    before = log_size()
    # PostgreSQL cannot compare text holding NUL: this must stop at the edge, not in the DB.
    problem(api.post("/pickups/pk%00/ready"), 422, "VALIDATION_FAILED")
    problem(api.get("/cards/2345%0A6789"), 422, "VALIDATION_FAILED")
    problem(api.post("/pickups/" + "p" * 300 + "/complete"), 422, "VALIDATION_FAILED")
    assert log_size() == before
