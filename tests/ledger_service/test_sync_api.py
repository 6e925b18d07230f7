"""The device-key routes, signed store commands over HTTP and POST /api/v1/sync, each signed
for the deployment GET /api/v1/chain reports (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from anchoring import checkpoints
from anchoring.db import write_transaction
from cardtrail.app import create_app
from ledger_service import devices
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.config import Settings
from ledger_service.schema import device_commands

KEY1 = Account.from_key(bytes([11] * 32))
KEY2 = Account.from_key(bytes([12] * 32))
STRANGER = Account.from_key(bytes([13] * 32))
HQ = Actor("hq", "tok_test")
HERE = devices.SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
OTHER_CHAIN = devices.SigningDomain(1, HERE.contract)
OTHER_CONTRACT = devices.SigningDomain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")


def stamp(ago: timedelta = timedelta(0)) -> str:
    return devices.timestamp(datetime.now(UTC) - ago)


def sign(
    key,
    number,
    action="redeem",
    store="S1",
    pickup="",
    ago=timedelta(0),
    client_id=None,
    domain=HERE,
    amount=0,
):
    cmd = devices.StoreCommand(
        number,
        action,
        store,
        pickup,
        stamp(ago),
        client_id or "c-" + secrets.token_hex(8),
        amount,
    )
    return devices.sign(cmd, key.key, domain).to_json()


def deploy(app, domain=HERE) -> None:
    """Record ``domain`` as the app's LedgerAnchor deployment (as `cardtrail up` does)."""
    with write_transaction(app.extensions["cardtrail"].engine) as conn:
        checkpoints.record_deployment(
            conn, domain.chain_id, domain.contract, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )


@pytest.fixture
def keyed(api, app):
    """The api of a deployed app, with KEY1 registered for S1 and KEY2 for S2."""
    deploy(app)
    for store_id, key in (("S1", KEY1), ("S2", KEY2)):
        response = api.post(f"/stores/{store_id}/keys", {"address": key.address, "label": "till"})
        assert response.status_code == 201, response.get_json()
    return api


def issue(api, count: int = 1) -> list[tuple[str, str]]:
    response = api.post(
        "/cards",
        {
            "batch_ref": "B-" + secrets.token_hex(4),
            "cards": [{"product": "Tea"}] * count,
            "active": True,
        },
    )
    assert response.status_code == 201, response.get_json()
    return [(c["card_number"], c["redemption_code"]) for c in response.get_json()["cards"]]


def redeem_item(number, code, key=KEY1, **kw):
    return {
        "action": "redeem",
        "card_number": number,
        "redemption_code": code,
        "signature": sign(key, number, **kw),
    }


# --- keys ------------------------------------------------------------------------------


def test_headquarters_registers_and_a_store_lists_its_own_keys(keyed):
    own = keyed.get("/stores/S1/keys", who="S1")
    assert own.status_code == 200
    [key] = own.get_json()["keys"]
    assert key["address"] == KEY1.address and key["active"] is True and key["label"] == "till"
    assert keyed.get("/stores/S2/keys", who="S1").get_json()["code"] == "FORBIDDEN"
    assert keyed.get("/stores/S2/keys", who="auditor").status_code == 200


def test_a_store_token_cannot_register_or_revoke(keyed):
    assert keyed.post("/stores/S1/keys", {"address": STRANGER.address}, who="S1").status_code == 403
    assert keyed.post(f"/stores/S1/keys/{KEY1.address}/revoke", who="S1").status_code == 403


def test_an_address_cannot_be_registered_twice(keyed):
    response = keyed.post("/stores/S2/keys", {"address": KEY1.address.lower()})
    assert response.status_code == 409
    assert response.get_json()["code"] == "DEVICE_KEY_EXISTS"


def test_revoking_a_key_shows_in_the_list(keyed):
    response = keyed.post(f"/stores/S1/keys/{KEY1.address}/revoke")
    assert response.status_code == 200 and response.get_json()["active"] is False
    [key] = keyed.get("/stores/S1/keys").get_json()["keys"]
    assert key["revoked_at"] is not None
    missing = keyed.post(f"/stores/S2/keys/{KEY1.address}/revoke")
    assert missing.get_json()["code"] == "DEVICE_KEY_NOT_FOUND"


# --- signed commands on the online routes ------------------------------------------------


def test_a_signed_online_redemption_logs_its_device(keyed):
    [(number, code)] = issue(keyed)
    signature = sign(KEY1, number)
    response = keyed.post(
        f"/cards/{number}/redeem", {"redemption_code": code, "signature": signature}, who="S1"
    )
    assert response.status_code == 200, response.get_json()
    event = keyed.get(f"/cards/{number}").get_json()["events"][-1]
    assert event["data"] == {**signature, "deployment": HERE.to_json()}


def test_the_chain_route_reports_the_domain_devices_sign_for(keyed):
    chain = keyed.get("/chain", who=None).get_json()
    assert devices.SigningDomain.from_json(chain) == HERE


@pytest.mark.parametrize(
    "make, code, status",
    [
        (lambda n: {**sign(STRANGER, n), "signer": KEY1.address}, "SIGNATURE_INVALID", 403),
        (lambda n: sign(STRANGER, n), "DEVICE_KEY_UNKNOWN", 403),
        (lambda n: sign(KEY2, n, store="S1"), "DEVICE_KEY_WRONG_STORE", 403),
        (lambda n: sign(KEY1, n, ago=timedelta(days=8)), "SIGNATURE_EXPIRED", 403),
        (lambda n: sign(KEY1, n, domain=OTHER_CHAIN), "SIGNATURE_INVALID", 403),
        (lambda n: sign(KEY1, n, domain=OTHER_CONTRACT), "SIGNATURE_INVALID", 403),
    ],
    ids=["forged", "unknown-key", "other-stores-key", "stale", "other-chain", "other-contract"],
)
def test_bad_signatures_are_refused_with_their_code(keyed, log_size, make, code, status):
    [(number, redemption)] = issue(keyed)
    size = log_size()
    response = keyed.post(
        f"/cards/{number}/redeem",
        {"redemption_code": redemption, "signature": make(number)},
        who="S1",
    )
    assert (response.status_code, response.get_json()["code"]) == (status, code)
    assert log_size() == size


def test_a_replayed_signature_is_refused(keyed):
    (first, code1), (second, code2) = issue(keyed, 2)
    body = {"redemption_code": code1, "signature": sign(KEY1, first, client_id="c-replayed")}
    assert keyed.post(f"/cards/{first}/redeem", body, who="S1").status_code == 200
    again = {"redemption_code": code2, "signature": sign(KEY1, second, client_id="c-replayed")}
    response = keyed.post(f"/cards/{second}/redeem", again, who="S1")
    assert (response.status_code, response.get_json()["code"]) == (409, "SIGNATURE_REPLAYED")


def test_a_revoked_key_is_refused(keyed):
    [(number, code)] = issue(keyed)
    keyed.post(f"/stores/S1/keys/{KEY1.address}/revoke")
    response = keyed.post(
        f"/cards/{number}/redeem",
        {"redemption_code": code, "signature": sign(KEY1, number)},
        who="S1",
    )
    assert response.get_json()["code"] == "DEVICE_KEY_REVOKED"


def test_signed_pickup_steps_over_http(keyed):
    [(number, code)] = issue(keyed)
    keyed.post(f"/cards/{number}/claim", {"holder_ref": "h-1"})
    pickup = keyed.post(
        f"/cards/{number}/pickups", {"mode": "store", "store_id": "S1", "redemption_code": code}
    )
    pickup_id = pickup.get_json()["pickup_id"]
    ready = keyed.post(
        f"/pickups/{pickup_id}/ready",
        {"signature": sign(KEY1, number, "pickup_ready", pickup=pickup_id)},
        who="S1",
    )
    assert ready.status_code == 200, ready.get_json()
    # An unsigned completion (the customer's code, no signature) still works when
    # signatures are optional.
    done = keyed.post(
        f"/pickups/{pickup_id}/complete", {"credential": "card_code", "code": code}, who="S1"
    )
    assert done.status_code == 200, done.get_json()
    events = keyed.get(f"/cards/{number}").get_json()["events"]
    assert events[-2]["data"]["signer"] == KEY1.address
    assert "signer" not in events[-1]["data"]


# --- sync ------------------------------------------------------------------------------


def sync(api, items, key=None):
    return api.post("/sync", {"items": items}, who="S1", key=key)


def test_sync_lands_items_in_order_and_exactly_once(keyed, log_size, count_rows):
    cards = issue(keyed, 3)
    items = [
        redeem_item(n, c, ago=timedelta(hours=2, minutes=-i)) for i, (n, c) in enumerate(cards)
    ]
    first = sync(keyed, items)
    assert first.status_code == 200, first.get_json()
    results = first.get_json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * 3
    leaves = [r["leaf_index"] for r in results]
    assert leaves == sorted(leaves) and len(set(leaves)) == 3
    size = log_size()
    # The client lost the answer and sends everything again (a new request, new key).
    again = sync(keyed, items).get_json()["results"]
    assert [r["leaf_index"] for r in again] == leaves
    assert all(r["replayed"] for r in again)
    assert log_size() == size
    assert count_rows(device_commands) == 3
    events = [keyed.get(f"/cards/{n}").get_json()["events"][-1] for n, _ in cards]
    assert [e["occurred_at"] for e in events] == [i["signature"]["signed_at"] for i in items]
    assert all(e["recorded_at"] > e["occurred_at"] for e in events)


def test_a_queued_partial_redemption_lands_for_its_signed_amount_only(keyed, log_size):
    product = {"sku": "SV-SYNC", "name_zh": "储值卡", "name_en": "Stored value"}
    product |= {"kind": "stored_value", "face_value": 10_000, "currency": "CNY"}
    assert keyed.post("/products", product).status_code == 201
    made = keyed.post("/cards", {"batch_ref": "B-SV-SYNC", "cards": [{"sku": "SV-SYNC"}] * 2})
    [(paid, code1), (other, code2)] = [
        (c["card_number"], c["redemption_code"]) for c in made.get_json()["cards"]
    ]
    for number in (paid, other):
        assert keyed.post(f"/cards/{number}/activate", {}).status_code == 200
    good = {**redeem_item(paid, code1, amount=2_500), "amount": 2_500}
    # The server is asked for more than the device signed: not logged, not decided.
    inflated = {**redeem_item(other, code2, amount=2_500), "amount": 9_000}
    size = log_size()
    results = sync(keyed, [good, inflated]).get_json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("accepted", None),
        ("refused", "SIGNATURE_INVALID"),
    ]
    assert "signed amount 2500" in results[1]["detail"]
    assert log_size() == size + 1
    event = keyed.get(f"/cards/{paid}").get_json()["events"][-1]
    assert (event["data"]["amount"], event["data"]["signed_amount"]) == (2_500, 2_500)
    assert keyed.get(f"/cards/{other}").get_json()["balance"] == 10_000


def test_a_version_2_item_is_refused_alone_and_the_batch_goes_on(keyed):
    (old, code1), (new, code2) = issue(keyed, 2)
    unsigned_amount = redeem_item(old, code1)
    del unsigned_amount["signature"]["signed_amount"]
    response = sync(keyed, [unsigned_amount, redeem_item(new, code2)])
    assert response.status_code == 200, response.get_json()
    first, second = response.get_json()["results"]
    assert (first["status"], first["code"]) == ("refused", "SIGNATURE_INVALID")
    assert "names no signed_amount" in first["detail"]
    assert second["status"] == "accepted"


def test_a_card_used_online_meanwhile_is_refused_and_flagged(keyed, app):
    (used, code1), (fresh, code2) = issue(keyed, 2)
    items = [
        redeem_item(used, code1, ago=timedelta(hours=1)),
        redeem_item(fresh, code2, ago=timedelta(minutes=59)),
    ]
    online = keyed.post(f"/cards/{used}/redeem", {"redemption_code": code1}, who="S2")
    assert online.status_code == 200
    results = sync(keyed, items).get_json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("refused", "CARD_ALREADY_USED"),
        ("accepted", None),
    ]
    from ledger_service.devices_api import ledger

    with app.app_context():
        flagged = ledger().anomalies(HQ, kind="offline_conflict")
    assert [(a["card_number"], a["store_id"]) for a in flagged] == [(used, "S1")]
    # Re-sent: the same refusal comes back, and the console is not told twice.
    again = sync(keyed, items).get_json()["results"]
    assert again[0]["status"] == "refused" and again[0]["replayed"] is True
    with app.app_context():
        assert len(ledger().anomalies(HQ, kind="offline_conflict")) == 1


def test_a_forged_sync_item_does_not_burn_the_client_id(keyed):
    [(number, code)] = issue(keyed)
    good = redeem_item(number, code, client_id="c-not-burnt")
    forged = {**good, "signature": {**good["signature"], "signer": STRANGER.address}}
    refused = sync(keyed, [forged]).get_json()["results"][0]
    assert (refused["status"], refused["code"]) == ("refused", "SIGNATURE_INVALID")
    assert sync(keyed, [good]).get_json()["results"][0]["status"] == "accepted"


@pytest.mark.parametrize("there", [OTHER_CHAIN, OTHER_CONTRACT], ids=["chain", "contract"])
def test_a_sync_item_signed_for_another_deployment_is_refused_undecided(keyed, log_size, there):
    [(number, code)] = issue(keyed)
    size = log_size()
    elsewhere = redeem_item(number, code, client_id="c-elsewhere", domain=there)
    refused = sync(keyed, [elsewhere]).get_json()["results"][0]
    assert (refused["status"], refused["code"]) == ("refused", "SIGNATURE_INVALID")
    assert log_size() == size
    # Not decided: the device may sign the same command for this deployment and send it.
    here = redeem_item(number, code, client_id="c-elsewhere")
    assert sync(keyed, [here]).get_json()["results"][0]["status"] == "accepted"


def test_before_the_contract_is_deployed_signed_items_wait(api, app, log_size):
    api.post("/stores/S1/keys", {"address": KEY1.address})
    [(number, code)] = issue(api)
    item = redeem_item(number, code, client_id="c-too-early")
    early = sync(api, [item]).get_json()["results"][0]
    assert (early["status"], early["code"]) == ("refused", "SIGNATURE_INVALID")
    assert "no deployed LedgerAnchor contract yet" in early["detail"]
    deploy(app)
    assert sync(api, [item]).get_json()["results"][0]["status"] == "accepted"


def test_a_client_id_reused_for_another_command_is_a_replay(keyed):
    (first, code1), (second, code2) = issue(keyed, 2)
    sync(keyed, [redeem_item(first, code1, client_id="c-used-once")])
    result = sync(keyed, [redeem_item(second, code2, client_id="c-used-once")]).get_json()
    assert result["results"][0]["code"] == "SIGNATURE_REPLAYED"


def test_sync_is_for_store_tokens_and_checks_its_items(keyed):
    [(number, code)] = issue(keyed)
    assert keyed.post("/sync", {"items": [redeem_item(number, code)]}).status_code == 403
    bad = {"action": "pickup_ready", "card_number": number, "signature": sign(KEY1, number)}
    response = sync(keyed, [bad])
    assert response.status_code == 422 and response.get_json()["code"] == "VALIDATION_FAILED"


def test_the_openapi_document_describes_keys_and_sync(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/api/v1/stores/{store_id}/keys"]) == {"get", "post"}
    assert "post" in paths["/api/v1/stores/{store_id}/keys/{address}/revoke"]
    assert "post" in paths["/api/v1/sync"]
    redeem = paths["/api/v1/cards/{number}/redeem"]["post"]
    assert "SIGNATURE_INVALID" in redeem["responses"]["403"]["description"]


def test_a_deployment_can_require_store_signatures(tmp_path, db_url, api):
    settings = Settings.from_env(
        tmp_path / "strict",
        environ={"DATABASE_URL": db_url, "CARDTRAIL_REQUIRE_STORE_SIGNATURES": "1"},
    )
    strict = create_app(settings, {"TESTING": True})
    try:
        rt = strict.extensions["cardtrail"]
        tokens = {
            "hq": create_token(rt.engine, rt.secret_key, "hq").token,
            "S1": create_token(rt.engine, rt.secret_key, "store", "S1").token,
        }
        # The conftest's JSON client class, pointed at the strict app.
        api = type(api)(strict.test_client(), tokens)
        deploy(strict)
        api.post("/stores", {"store_id": "S1", "name": "One", "region": "north"})
        api.post("/stores/S1/keys", {"address": KEY1.address})
        (plain, code1), (signed, code2) = issue(api, 2)
        refused = api.post(f"/cards/{plain}/redeem", {"redemption_code": code1}, who="S1")
        assert (refused.status_code, refused.get_json()["code"]) == (403, "SIGNATURE_REQUIRED")
        body = {"redemption_code": code2, "signature": sign(KEY1, signed)}
        assert api.post(f"/cards/{signed}/redeem", body, who="S1").status_code == 200
    finally:
        strict.extensions["cardtrail"].engine.dispose()
