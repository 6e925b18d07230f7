"""Products, inactive issuance, activation (one card, a batch, a number range) and sales
through channels with their allocations."""

from __future__ import annotations

import pytest
from ledger_helpers import HQ, STORE1, assert_refused_without_writing, rows

from ledger_service import errors
from ledger_service.schema import cards, events


def _products(ledger) -> None:
    ledger.create_product(
        HQ, "SV100", "储值卡 100元", "Card 100", "stored_value", face_value=10_000, currency="CNY"
    )
    ledger.create_product(HQ, "GYM10", "健身十次卡", "Gym 10 visits", "count", units=10)
    ledger.create_product(
        HQ, "WINE", "岭泉 500ml", "Lingquan 500ml", "pickup", face_value=149_900, currency="CNY"
    )


def test_the_catalogue_lists_and_refuses_repeats(ledger):
    _products(ledger)
    assert [p["sku"] for p in ledger.list_products(HQ)] == ["GYM10", "SV100", "WINE"]
    assert ledger.get_product(STORE1, "GYM10")["units"] == 10
    with pytest.raises(errors.ProductExists):
        ledger.create_product(HQ, "GYM10", "x", "x", "count")
    with pytest.raises(errors.ProductNotFound):
        ledger.get_product(HQ, "NOPE")
    with pytest.raises(errors.ValidationFailed):
        ledger.create_product(HQ, "SV0", "x", "x", "stored_value")
    with pytest.raises(errors.Forbidden):
        ledger.create_product(STORE1, "X1", "x", "x", "pickup")


def test_cards_are_issued_inactive_from_the_product_and_refused_until_sold(ledger):
    _products(ledger)
    issued = ledger.issue_cards(HQ, "B1", [{"sku": "SV100"}, {"product": "Tea"}])["cards"]
    (number, code), (tea, tea_code) = [(c["card_number"], c["redemption_code"]) for c in issued]
    card = ledger.get_card(HQ, number)
    assert (card["state"], card["kind"], card["sku"], card["balance"]) == (
        "INACTIVE",
        "stored_value",
        "SV100",
        None,
    )
    assert (card["product"], card["face_value"], card["currency"]) == (
        "储值卡 100元",
        10_000,
        "CNY",
    )
    data = card["events"][0]["data"]
    assert (data["kind"], data["sku"], data["units"], data["active"]) == (
        "stored_value",
        "SV100",
        1,
        False,
    )
    assert ledger.get_card(HQ, tea)["kind"] == "pickup"
    for call, args in (
        (ledger.redeem, (HQ, number, code)),
        (ledger.redeem, (HQ, tea, tea_code)),
        (ledger.claim, (HQ, tea, "crm-1")),
    ):
        assert_refused_without_writing(ledger, errors.CardNotActive, call, *args)
    with pytest.raises(errors.ProductNotFound):
        ledger.issue_cards(HQ, "B2", [{"sku": "NOPE"}])


def test_cards_issued_active_are_sold_at_once_with_their_opening_balance(ledger):
    _products(ledger)
    [card] = ledger.issue_cards(HQ, "B1", [{"sku": "GYM10"}], active=True)["cards"]
    view = ledger.get_card(HQ, card["card_number"])
    assert (view["state"], view["balance"]) == ("ISSUED", 10)
    [row] = rows(ledger, events, events.c.card_number == card["card_number"])
    assert (row.amount, row.balance) == (10, 10)


def test_activation_of_one_card_records_sale_store_and_opening_balance(ledger, stores):
    _products(ledger)
    [card] = ledger.issue_cards(HQ, "B1", [{"sku": "SV100"}])["cards"]
    done = ledger.activate(STORE1, card["card_number"], price=9_800)
    assert done["state"] == "ISSUED"
    view = ledger.get_card(HQ, card["card_number"])
    assert (view["balance"], view["sale_price"], view["channel_id"]) == (10_000, 9_800, None)
    assert view["activated_at"] is not None
    event = view["events"][-1]
    assert (event["type"], event["store_id"]) == ("ACTIVATED", "S1")
    assert event["data"] == {"channel": None, "price": 9_800, "balance": 10_000}
    row = rows(ledger, events, events.c.leaf_index == done["leaf_index"])[0]
    assert (row.amount, row.balance) == (10_000, 10_000)
    with pytest.raises(errors.InvalidTransition):
        ledger.activate(HQ, card["card_number"])


def test_a_batch_is_activated_in_one_go_and_only_its_stock(ledger):
    _products(ledger)
    numbers = [
        c["card_number"] for c in ledger.issue_cards(HQ, "B1", [{"sku": "WINE"}] * 5)["cards"]
    ]
    ledger.issue_cards(HQ, "B2", [{"sku": "WINE"}] * 2)
    ledger.activate(HQ, numbers[0])
    done = ledger.activate_cards(HQ, batch_ref="B1", price=120_000)
    assert done["activated"] == 4
    assert {c["card_number"] for c in done["cards"]} == set(numbers[1:])
    states = {r.batch_ref + r.state for r in rows(ledger, cards)}
    assert states == {"B1ISSUED", "B2INACTIVE"}
    with pytest.raises(errors.CardNotFound):
        ledger.activate_cards(HQ, batch_ref="B1")


def test_a_number_range_activates_the_stock_between_its_ends(ledger):
    issued = ledger.issue_cards(HQ, "B1", [{"product": "Tea"}] * 6)["cards"]
    numbers = sorted(c["card_number"] for c in issued)
    done = ledger.activate_cards(HQ, first=numbers[1], last=numbers[4])
    assert [c["card_number"] for c in done["cards"]] == numbers[1:5]
    left = {r.number for r in rows(ledger, cards, cards.c.state == "INACTIVE")}
    assert left == {numbers[0], numbers[5]}
    with pytest.raises(errors.CardNotFound):
        ledger.activate_cards(HQ, first=numbers[4], last=numbers[1])
    with pytest.raises(errors.ValidationFailed):
        ledger.activate_cards(HQ, batch_ref="B1", first=numbers[0], last=numbers[1])


def test_a_channel_sells_from_its_allocation_at_its_price(ledger):
    _products(ledger)
    numbers = [
        c["card_number"] for c in ledger.issue_cards(HQ, "B1", [{"sku": "SV100"}] * 5)["cards"]
    ]
    ledger.create_channel(HQ, "JD", "京东旗舰店", "online")
    with pytest.raises(errors.ChannelExists):
        ledger.create_channel(HQ, "JD", "again", "online")
    with pytest.raises(errors.AllocationExhausted):
        ledger.allocate(HQ, "JD", "SV100", 6, 9_500)  # the pool holds 5
    assert ledger.allocate(HQ, "JD", "SV100", 3, 9_500)["left"] == 3
    ledger.activate_cards(HQ, numbers=numbers[:2], channel_id="JD")
    view = ledger.get_card(HQ, numbers[0])
    assert (view["channel_id"], view["sale_price"], view["balance"]) == ("JD", 9_500, 10_000)
    assert view["events"][-1]["data"] == {"channel": "JD", "price": 9_500, "balance": 10_000}
    # Two more than the one left: nothing is sold, nothing logged.
    assert_refused_without_writing(
        ledger,
        errors.AllocationExhausted,
        ledger.activate_cards,
        HQ,
        numbers=numbers[2:],
        channel_id="JD",
    )
    [jd] = ledger.list_channels(HQ)
    allocation = jd["allocations"][0]
    assert [allocation[k] for k in ("allocated", "sold", "left", "price")] == [3, 2, 1, 9_500]
    with pytest.raises(errors.ChannelNotFound):
        ledger.activate(HQ, numbers[2], channel_id="TMALL")
    with pytest.raises(errors.ValidationFailed):
        ledger.activate(HQ, numbers[2], channel_id="JD", price=1)
