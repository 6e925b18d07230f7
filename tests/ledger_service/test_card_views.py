"""Who reads what of a card: GET /api/v1/cards/{number} for every role (SQLite, PostgreSQL).

Headquarters reads everything; auditors everything but the personal references; store
staff what the counter needs: no holder or delivery address reference, and only the
pickups at their own store.
"""

from __future__ import annotations

import doctest

import pytest

from ledger_service import card_views

HOLDER = "crm-secret-7"
ADDRESS = "addr-secret-1"

# caller -> (holder_ref shown, address_ref shown, pickup stores of the delivery card,
#            pickup stores of the card collected at S2)
MATRIX = {
    "hq": (True, True, [None], ["S2"]),
    "auditor": (False, False, [None], ["S2"]),
    "S1": (False, False, [], []),
    "S2": (False, False, [], ["S2"]),
}


def _claimed_card(api) -> tuple[str, str]:
    response = api.post(
        "/cards", {"batch_ref": "CV", "cards": [{"product": "Tea"}], "active": True}
    )
    card = response.get_json()["cards"][0]
    claim = api.post(f"/cards/{card['card_number']}/claim", {"holder_ref": HOLDER})
    assert claim.status_code == 200, claim.get_json()
    return card["card_number"], card["redemption_code"]


@pytest.fixture
def cards(api) -> tuple[str, str]:
    """A card to be delivered to ADDRESS and a card to be collected at S2, both claimed."""
    delivered, code = _claimed_card(api)
    body = {"mode": "delivery", "redemption_code": code, "address_ref": ADDRESS}
    assert api.post(f"/cards/{delivered}/pickups", body).status_code == 201
    collected, code = _claimed_card(api)
    body = {"mode": "store", "store_id": "S2", "redemption_code": code}
    assert api.post(f"/cards/{collected}/pickups", body).status_code == 201
    return delivered, collected


def test_the_module_examples_hold():
    result = doctest.testmod(card_views)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("who", list(MATRIX))
def test_each_role_reads_only_its_share_of_a_card(api, cards, who):
    holder, address, delivered_pickups, collected_pickups = MATRIX[who]
    delivered, collected = cards
    views = [api.get(f"/cards/{number}", who=who) for number in (delivered, collected)]
    assert [v.status_code for v in views] == [200, 200]
    texts = [v.get_data(as_text=True) for v in views]
    assert all((HOLDER in text) is holder for text in texts), who
    assert all(("holder_ref" in v.get_json()) is holder for v in views), who
    assert (ADDRESS in texts[0]) is address, who
    stores = [[p["store_id"] for p in v.get_json()["pickups"]] for v in views]
    assert stores == [delivered_pickups, collected_pickups], who
    # The card itself and its events are the same for every reader.
    assert views[1].get_json()["state"] == "PICKUP_REQUESTED"
    assert [e["type"] for e in views[1].get_json()["events"]] == [
        "ISSUED",
        "CLAIMED",
        "PICKUP_REQUESTED",
    ]
