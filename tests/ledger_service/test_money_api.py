"""The money routes over HTTP: the catalogue, issuing stock by SKU, selling it (one card,
a batch) through a channel, and spending a stored-value balance in part."""

from __future__ import annotations

from ledger_service.problems import PROBLEM_JSON


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["code"] == code
    return response.get_json()


def test_stock_is_refused_until_sold_then_spent_in_part(api):
    product = {
        "sku": "SV100",
        "name_zh": "储值卡 100元",
        "name_en": "Stored value 100",
        "kind": "stored_value",
        "face_value": 10_000,
        "currency": "CNY",
    }
    assert api.post("/products", product).status_code == 201
    _problem(api.post("/products", product), 409, "PRODUCT_EXISTS")
    assert api.get("/products/SV100", who="S1").get_json()["face_value"] == 10_000
    _problem(api.get("/products/NOPE"), 404, "PRODUCT_NOT_FOUND")
    issued = api.post("/cards", {"batch_ref": "STOCK", "cards": [{"sku": "SV100"}] * 3})
    assert issued.status_code == 201
    (one, code), *rest = [
        (c["card_number"], c["redemption_code"]) for c in issued.get_json()["cards"]
    ]
    body = {"redemption_code": code, "amount": 100}
    _problem(api.post(f"/cards/{one}/redeem", body, who="S1"), 409, "CARD_NOT_ACTIVE")

    channel = {"channel_id": "JD", "name": "京东旗舰店", "kind": "online"}
    assert api.post("/channels", channel).status_code == 201
    allocation = api.post("/channels/JD/allocations", {"sku": "SV100", "count": 2, "price": 9_500})
    assert allocation.get_json()["left"] == 2
    sold = api.post(f"/cards/{one}/activate", {"channel_id": "JD"}, who="S1")
    assert sold.status_code == 200, sold.get_json()
    _problem(
        api.post("/activations", {"batch_ref": "STOCK", "channel_id": "JD"}),
        409,
        "ALLOCATION_EXHAUSTED",
    )
    batch = api.post("/activations", {"batch_ref": "STOCK", "price": 9_900})
    assert batch.get_json()["activated"] == 2

    spent = api.post(f"/cards/{one}/redeem", {"redemption_code": code, "amount": 2_500}, who="S1")
    assert spent.get_json() | {"leaf_index": 0} == {
        "card_number": one,
        "state": "ISSUED",
        "leaf_index": 0,
        "amount": 2_500,
        "balance": 7_500,
    }
    _problem(
        api.post(f"/cards/{one}/redeem", {"redemption_code": code, "amount": 7_501}, who="S1"),
        409,
        "INSUFFICIENT_BALANCE",
    )
    leaf = spent.get_json()["leaf_index"]
    refund = {"refund_of": leaf, "amount": 2_501}
    _problem(api.post(f"/cards/{one}/refund", refund, who="S1"), 409, "REFUND_TOO_LARGE")
    card = api.get(f"/cards/{one}").get_json()
    assert (card["kind"], card["balance"], card["channel_id"], card["sale_price"]) == (
        "stored_value",
        7_500,
        "JD",
        9_500,
    )
    (other, _) = rest[0]
    moved = api.post(
        f"/cards/{one}/transfer-balance",
        {"redemption_code": code, "to_card_number": other, "amount": 500},
    ).get_json()
    assert (moved["sender"]["balance"], moved["receiver"]["balance"]) == (7_000, 10_500)
    channels = api.get("/channels", who="auditor").get_json()["channels"]
    assert channels[0]["allocations"][0]["sold"] == 1
