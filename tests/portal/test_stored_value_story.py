"""A stored-value card's whole story, end to end: issued as stock, sold, used in part
twice, refunded, topped up and expired. The card's history, its public page and its proof
bundle show the balance after each step, and the bundle verifies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from anchoring.bundle import verify_bundle
from ledger_service.actor import Actor
from ledger_service.domain.value import balance_history
from ledger_service.service import Ledger

HQ = Actor("hq", "tok_hq_story")
STORE = Actor("store", "tok_s1_story", store_id="S1")
# Today, so that the pages (which read the real clock) see the card unexpired until the
# story moves the ledger's clock past its date.
START = datetime.now(UTC).replace(second=0, microsecond=0)


class Clock:
    """One minute later at every call, until moved on by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def test_a_stored_value_card_from_stock_to_expiry(app, client, cards):
    rt = app.extensions["cardtrail"]
    clock = Clock()
    ledger = Ledger(rt.engine, rt.secret_key, clock=clock)
    ledger.create_store(HQ, "S1", "上海南京路店", "east")
    ledger.create_product(
        HQ,
        "SV100",
        "储值卡 100元",
        "Stored value 100",
        "stored_value",
        face_value=10_000,
        currency="CNY",
    )
    expires = (START + timedelta(days=1)).isoformat()
    [card] = ledger.issue_cards(HQ, "B-STORY", [{"sku": "SV100", "expires_at": expires}])["cards"]
    number, code = card["card_number"], card["redemption_code"]

    stock = client.get(f"/c/{number}").get_data(as_text=True)
    assert 'data-status="inactive"' in stock and "has not been sold yet" in stock
    assert "data-balance" not in stock

    balances = [ledger.activate(STORE, number, price=9_500)]
    first = ledger.redeem(STORE, number, code, amount=3_000)
    balances.append(first)
    balances.append(ledger.redeem(STORE, number, code, amount=2_500))
    balances.append(ledger.refund(STORE, number, first["leaf_index"], 1_000))
    balances.append(ledger.load(STORE, number, 2_000))
    assert [b.get("balance") for b in balances[1:]] == [7_000, 4_500, 5_500, 7_500]
    clock.now = START + timedelta(days=2)
    assert ledger.expire_due() == 1

    history = ledger.get_card(HQ, number)["events"]
    assert [e["type"] for e in history] == [
        "ISSUED",
        "ACTIVATED",
        "REDEEMED",
        "REDEEMED",
        "REFUNDED",
        "LOADED",
        "EXPIRED",
    ]
    expected = [10_000, 7_000, 4_500, 5_500, 7_500]
    assert [balance for _, balance in balance_history(history)] == expected

    anchored = cards.anchor(card_map=True)
    bundle = client.get(f"/api/v1/public/cards/{number}/bundle").get_json()
    proven = [item["event"] for item in bundle["events"]]
    assert [b for _, b in balance_history(proven)] == expected
    report = verify_bundle(
        bundle,
        lambda size: (
            anchored.checkpoint.root if size == anchored.checkpoint.tree_size else bytes(32)
        ),
        chain_id=anchored.chain_id,
        card_number=number,
    )
    assert report.ok, [str(c) for c in report.failures]

    page = client.get(f"/c/{number}").get_data(as_text=True)
    assert 'data-status="expired"' in page
    assert re.search(r'<p class="balance" data-balance>Balance: 75\.00 CNY</p>', page)
    details = re.findall(r'<span class="detail">Balance: ([0-9.]+) CNY</span>', page)
    assert details == ["100.00", "70.00", "45.00", "55.00", "75.00"]
    assert client.get(f"/api/v1/public/cards/{number}").get_json()["balance"] == 7_500
