"""The giver's way back from a gift: the gift page's 撤回转赠 button with its confirmation,
the card page of a card on offer pointing to it, and the recipient's page saying so."""

from __future__ import annotations

import html
import json
import re

import pytest

from ledger_service.actor import CUSTOMER, Actor
from ledger_service.service import Ledger

HQ = Actor("hq", "tok_hq_withdraw")


@pytest.fixture
def ledger(app) -> Ledger:
    rt = app.extensions["cardtrail"]
    return Ledger(rt.engine, rt.secret_key)


@pytest.fixture
def card(ledger) -> tuple[str, str]:
    [issued] = ledger.issue_cards(HQ, "B-WD", [{"product": "Tea 250g"}], active=True)["cards"]
    return issued["card_number"], issued["redemption_code"]


def _body(client, path: str, language: str = "zh-CN") -> str:
    response = client.get(path, headers={"Accept-Language": language})
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_the_gift_page_offers_to_withdraw_with_a_confirmation_in_chinese(client):
    body = _body(client, "/customer/gift")
    assert re.search(r'<button type="button" id="withdraw-button"[^>]*>撤回转赠</button>', body)
    # The confirmation waits hidden until the button is tapped.
    assert re.search(r'id="withdraw-confirm"[^>]*hidden', body)
    assert ">确定撤回</button>" in body and ">不撤回</button>" in body
    assert "链接将立即失效" in body


def test_the_gift_page_says_withdraw_offer_in_english(client):
    body = _body(client, "/customer/gift", "en")
    assert ">Withdraw offer</button>" in body
    assert "The link stops working at once" in body


def test_the_card_page_of_a_card_on_offer_leads_to_the_withdrawal(client, ledger, card):
    number, code = card
    assert f"/customer/gift?number={number}#gift-withdraw" not in _body(client, f"/c/{number}")
    ledger.offer_gift(CUSTOMER, number, code)
    body = _body(client, f"/c/{number}")
    assert f'href="/customer/gift?number={number}#gift-withdraw">撤回转赠</a>' in body
    ledger.withdraw_gift(CUSTOMER, number, code)
    body = _body(client, f"/c/{number}")
    assert "#gift-withdraw" not in body
    assert "赠送人撤回了转赠" in body  # the story's line for GIFT_WITHDRAWN


def test_the_recipients_page_names_a_withdrawn_offer(client):
    page = _body(client, "/customer/gifts/gf_0123456789abcdef")
    states = json.loads(re.search(r"data-states='([^']*)'", page).group(1))
    assert states["withdrawn"] == "已撤回：赠送人已收回此卡"


def test_the_card_story_says_withdrawn_in_english(client, ledger, card):
    number, code = card
    ledger.offer_gift(CUSTOMER, number, code)
    ledger.withdraw_gift(CUSTOMER, number, code)
    assert "Gift withdrawn by the giver" in _body(client, f"/c/{number}", "en")
