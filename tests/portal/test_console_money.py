"""Headquarters sells, tops up, refunds and adjusts a card from the console's card page;
each action is a log event with its attributable record."""

from __future__ import annotations

import pytest

from ledger_service.actor import Actor
from ledger_service.service import Ledger
from portal.console_money import minor_units

HQ = Actor("hq", "tok_money_console")


@pytest.fixture
def ledger(app) -> Ledger:
    rt = app.extensions["cardtrail"]
    led = Ledger(rt.engine, rt.secret_key)
    led.create_product(
        HQ,
        "SV500",
        "储值卡 500 元",
        "Stored value 500",
        "stored_value",
        face_value=50_000,
        currency="CNY",
    )
    return led


def _stock_card(ledger: Ledger) -> tuple[str, str]:
    [card] = ledger.issue_cards(HQ, "B-CONSOLE-MONEY", [{"sku": "SV500"}])["cards"]
    return card["card_number"], card["redemption_code"]


@pytest.mark.parametrize(
    ("text", "minor"), [("500", 50_000), ("12.5", 1_250), ("-0.01", -1), ("1,000.00", 100_000)]
)
def test_amounts_are_typed_in_yuan_and_kept_in_fen(text, minor):
    assert minor_units(text) == minor


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1e3"])
def test_a_malformed_amount_is_refused(text):
    with pytest.raises(ValueError):
        minor_units(text)


def test_headquarters_sells_tops_up_refunds_and_adjusts_with_a_record(ledger, signed_in):
    console, token = signed_in("hq")
    number, code = _stock_card(ledger)
    page = console.get(f"/console/cards?number={number}").get_data(as_text=True)
    assert 'id="form-activate"' in page and 'id="form-load"' not in page

    base = f"/console/cards/{number}/money"
    assert console.post(f"{base}/activate", {"price": "480"}).status_code == 303
    card = ledger.get_card(HQ, number)
    assert (card["state"], card["balance"], card["sale_price"]) == ("ISSUED", 50_000, 48_000)

    redeemed = ledger.redeem(HQ, number, code, amount=12_000)
    assert console.post(f"{base}/load", {"amount": "100"}).status_code == 303
    refund = {"refund_of": str(redeemed["leaf_index"]), "amount": "20.00"}
    assert console.post(f"{base}/refund", refund).status_code == 303
    adjust = {"amount": "-0.50", "reason_code": "issuer_error", "reason": "补差"}
    assert console.post(f"{base}/adjust", adjust).status_code == 303

    card = ledger.get_card(HQ, number)
    assert card["balance"] == 50_000 - 12_000 + 10_000 + 2_000 - 50
    record = ledger.admin_record(HQ, number=number)
    assert [r["action"] for r in record] == ["adjust", "refund", "load", "activate"]
    assert {r["actor"]["id"] for r in record} == {token}
    assert all(r["leaf_index"] is not None for r in record)
    assert "补差" not in " ".join(r["detail"] for r in record)  # the text stays off the record


def test_a_refused_money_action_says_why_and_leaves_no_record(ledger, signed_in):
    console, _ = signed_in("hq")
    number, _ = _stock_card(ledger)
    response = console.post(f"/console/cards/{number}/money/load", {"amount": "10"})
    assert response.status_code == 409  # not sold yet
    assert ledger.admin_record(HQ, number=number) == []
    bad = console.post(f"/console/cards/{number}/money/activate", {"price": "1.234"})
    assert bad.status_code == 422


def test_store_staff_cannot_reach_the_money_actions(ledger, signed_in):
    ledger.create_store(HQ, "S1", "上海南京路店", "east")
    console, _ = signed_in("S1")
    number, _ = _stock_card(ledger)
    response = console.post(f"/console/cards/{number}/money/activate", {})
    assert response.status_code == 403
    assert ledger.get_card(HQ, number)["state"] == "INACTIVE"
