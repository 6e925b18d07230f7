"""From the card page to a pickup: the page of an unused card offers the holder's actions,
and the pickup form offers only the stores that have the card's product, by city."""

from __future__ import annotations

import html

import pytest

from ledger_service.actor import Actor
from ledger_service.service import Ledger

HQ = Actor("hq", "tok_hq_choice")


@pytest.fixture
def card(app) -> str:
    rt = app.extensions["cardtrail"]
    ledger = Ledger(rt.engine, rt.secret_key)
    ledger.create_store(HQ, "SH01", "上海南京西路店", "east", city="上海", address="南京西路 1 号")
    ledger.create_store(HQ, "SH02", "上海徐家汇店", "east", city="上海")
    ledger.create_store(HQ, "BJ01", "北京王府井店", "north", city="北京")
    ledger.create_product(HQ, "LQ-6", "岭泉六瓶整箱", "Lingquan case of 6", "pickup")
    ledger.set_stock(HQ, "SH01", "LQ-6", on_hand=5)
    ledger.set_stock(HQ, "BJ01", "LQ-6", on_hand=0)
    [issued] = ledger.issue_cards(HQ, "B-CHOICE", [{"sku": "LQ-6"}], active=True)["cards"]
    return issued["card_number"]


def _body(client, path: str) -> str:
    response = client.get(path, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_the_card_page_of_an_unused_card_links_the_holders_actions(client, card):
    body = _body(client, f"/c/{card}")
    assert f"/customer/pickup?number={card}&sku=LQ-6" in body
    assert f"/customer/gift?number={card}" in body
    assert f"/customer/?number={card}" in body


def test_the_pickup_form_offers_only_stores_with_the_product_by_city(client, card):
    body = _body(client, f"/customer/pickup?number={card}&sku=LQ-6")
    assert f'value="{card}"' in body  # the card number comes filled in
    assert 'name="store_id" value="SH01"' in body
    assert 'value="SH02"' not in body  # no stock line
    assert 'value="BJ01"' not in body  # none on hand
    assert 'data-city="上海"' in body and "南京西路 1 号" in body


def test_without_a_product_the_form_lists_every_store(client, card):
    body = _body(client, "/customer/pickup")
    assert all(f'value="{store}"' in body for store in ("SH01", "SH02", "BJ01"))
