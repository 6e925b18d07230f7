"""The merchant API's card view says when a card is past its date, before the expiry job
has written its EXPIRED event, and every use of it is refused meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def issue(api, expires_at: str) -> dict:
    card = {"product": "Tea", "expires_at": expires_at}
    body = {"batch_ref": "B-DATED", "active": True, "cards": [card]}
    response = api.post("/cards", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["cards"][0]


def test_a_card_past_its_date_reads_expired_by_date_and_cannot_be_used(api):
    past = issue(api, "2020-01-01T00:00:00Z")
    future = issue(api, (datetime.now(UTC) + timedelta(days=10)).isoformat())
    seen = api.get(f"/cards/{past['card_number']}").get_json()
    assert (seen["state"], seen["expired_by_date"]) == ("ISSUED", True)
    assert api.get(f"/cards/{future['card_number']}").get_json()["expired_by_date"] is False
    refused = api.post(
        f"/cards/{past['card_number']}/redeem",
        {"redemption_code": past["redemption_code"]},
        who="S1",
    )
    assert (refused.status_code, refused.get_json()["code"]) == (409, "CARD_EXPIRED")
    # Store staff read the same flag.
    assert api.get(f"/cards/{past['card_number']}", who="S1").get_json()["expired_by_date"]
