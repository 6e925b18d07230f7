"""The customer's own flows on a 390×844 phone, in Chinese: claim a card, gift it and accept
the gift, request a pickup at a store, and have the staff complete it by scanning the
rotating code shown on the customer's pickup page and a bottle serial; and a giver who
withdraws a gift link sent to the wrong person."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from conftest import axe_violations, blocking

from cardtrail.app import create_app
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.config import Settings

pytestmark = pytest.mark.browser

HQ = Actor("hq", "tok_browser")
PHONE_WIDTH = 390

# The document's width: a phone page must not scroll sideways.
SCROLL_WIDTH = "() => document.documentElement.scrollWidth"


@pytest.fixture
def shop(tmp_path, serve):
    """A fresh merchant with store S1 and one card, served on a free port; customer limits
    off (every request of the test comes from one address)."""
    settings = Settings.from_env(
        tmp_path / "data", environ={"DATABASE_URL": f"sqlite:///{tmp_path / 'ct.db'}"}
    )
    app = create_app(
        settings, {"CUSTOMER_RATE_LIMIT_PER_CLIENT": None, "CUSTOMER_RATE_LIMIT_PER_CARD": None}
    )
    rt = app.extensions["cardtrail"]
    rt.ledger.create_store(HQ, "S1", "旗舰店 Flagship", "north", city="上海")
    rt.ledger.create_store(HQ, "S2", "空店 Empty", "north", city="上海")
    rt.ledger.create_product(HQ, "MT-500", "茅台 500ml", "Moutai 500ml", "pickup")
    rt.ledger.set_stock(HQ, "S1", "MT-500", on_hand=2)
    batch = [{"sku": "MT-500"}]
    card = rt.ledger.issue_cards(HQ, "BR1", batch, active=True)["cards"][0]
    store_token = create_token(rt.engine, rt.secret_key, "store", "S1").token
    yield {
        "url": serve(app),
        "app": app,
        "number": card["card_number"],
        "code": card["redemption_code"],
        "store_token": store_token,
    }
    rt.engine.dispose()


def _staff(shop, path, body, key):
    """A store staff request through the merchant API (the counter's side)."""
    return (
        shop["app"]
        .test_client()
        .post(
            f"/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {shop['store_token']}", "Idempotency-Key": key},
        )
    )


def _fits(page) -> None:
    assert page.evaluate(SCROLL_WIDTH) <= PHONE_WIDTH


def test_claim_gift_accept_pickup_and_handover_on_a_phone(shop, open_page, screenshots):
    page = open_page("zh-CN", "390x844")

    # Claim the card with its code.
    page.goto(shop["url"] + "/customer/")
    assert page.locator("h1").inner_text() == "我的卡"
    page.fill("#card-number", shop["number"])
    page.fill("#card-code", shop["code"])
    page.fill("#holder-ref", "13800000000")
    page.click("#claim-button")
    page.wait_for_selector("#claim-result:not([hidden])")
    assert page.locator("#claim-result").inner_text() == "此卡已归您所有。"
    _fits(page)
    page.screenshot(path=str(screenshots / "claimed.png"), full_page=True)

    # Gift it: a share link.
    page.goto(shop["url"] + "/customer/gift")
    page.fill("#card-number", shop["number"])
    page.fill("#card-code", shop["code"])
    page.click("#gift-submit")
    page.wait_for_selector("#gift-result:not([hidden])")
    link = urlsplit(page.locator("#gift-link").input_value())
    _fits(page)

    # The friend opens the link and accepts: the new code shows once.
    friend = open_page("zh-CN", "390x844")
    # What the friend's browser asks for: the link's token and the pickup page's key must
    # never be in a URL sent (they go in a header).
    sent = []
    friend.on("request", lambda request: sent.append(urlsplit(request.url)._replace(fragment="")))
    friend.goto(f"{shop['url']}{link.path}#{link.fragment}")
    friend.wait_for_selector("#accept-form:not([hidden])")
    assert friend.locator("#gift-state").inner_text() == "等待您领取"
    friend.fill("#accept-holder", "13900000000")
    friend.click("#accept-submit")
    friend.wait_for_selector("#accept-result:not([hidden])")
    new_code = friend.locator("#new-code").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", new_code)
    assert new_code != shop["code"]
    _fits(friend)
    friend.screenshot(path=str(screenshots / "gift-accepted.png"), full_page=True)

    # The friend follows the card page's link to ask for the goods: only the store with
    # stock is offered; S1, today.
    friend.goto(f"{shop['url']}/c/{shop['number']}")
    friend.click(".holder-actions a[href*='/customer/pickup']")
    assert friend.locator("#card-number").input_value() == shop["number"]
    assert friend.locator("input[name=store_id]").count() == 1
    friend.fill("#card-code", new_code)
    friend.check("input[name=store_id][value=S1]")
    friend.fill("#day", datetime.now(UTC).date().isoformat())
    friend.click("#pickup-submit")
    friend.wait_for_url(re.compile(r".*/customer/pickups/pk_[0-9a-f]+#[0-9a-f]{32}$"))
    pickup_id = urlsplit(friend.url).path.rsplit("/", 1)[1]
    friend.wait_for_selector("#pickup-state:text-is('已申请')")
    _fits(friend)

    # The store readies it; the page then shows the rotating code and its QR.
    ready = _staff(shop, f"/pickups/{pickup_id}/ready", {}, "ready-1")
    assert ready.status_code == 200, ready.get_json()
    friend.wait_for_selector("#pickup-state:text-is('门店已备货')", timeout=15_000)
    assert friend.locator("#pickup-code-box").is_visible()
    shown = friend.locator("#pickup-code").inner_text()
    assert re.fullmatch(r"[0-9]{6}", shown)
    # The QR (of "CTPK:<pickup>:<code>") has loaded and has a size.
    friend.wait_for_selector("#pickup-qr[src^='data:image/svg+xml']")
    assert friend.locator("#pickup-qr").evaluate("img => img.decode().then(() => img.naturalWidth)")
    _fits(friend)
    friend.screenshot(path=str(screenshots / "pickup-code.png"), full_page=True)

    # Staff scan the customer's code and the bottle's serial: handed over.
    done = _staff(
        shop,
        f"/pickups/{pickup_id}/complete",
        {"credential": "rotating_code", "code": shown, "serials": ["MT-2026-000123"]},
        "complete-1",
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "PICKUP_COMPLETED"
    friend.wait_for_selector("#pickup-state:text-is('已完成')", timeout=15_000)
    assert friend.locator("#pickup-code-box").is_hidden()
    secrets = (link.fragment, urlsplit(friend.url).fragment)
    assert any(f"/customer/pickups/{pickup_id}" in url.path for url in sent)
    assert not [url for url in sent for secret in secrets if secret in url.geturl()]

    # Anyone holding the bottle looks its serial up: the handover of this pickup, by leaf.
    friend.goto(f"{shop['url']}/serial?serial=mt-2026-000123")
    handover = friend.locator(f".handover[data-leaf='{done.get_json()['leaf_index']}']")
    assert handover.count() == 1
    assert friend.locator(".handovers").get_attribute("data-count") == "1"
    # Not anchored yet: the browser proved nothing, and its verdict must not be green.
    friend.wait_for_selector("#serial-verdict:not(.running)")
    verdict = friend.locator("#serial-verdict")
    assert verdict.get_attribute("data-ok") == "false" and "warn" in verdict.get_attribute("class")
    _fits(friend)
    friend.screenshot(path=str(screenshots / "serial-lookup.png"), full_page=True)


def test_a_giver_withdraws_a_gift_link_before_it_is_accepted_on_a_phone(
    shop, open_page, screenshots
):
    page = open_page("zh-CN", "390x844", bypass_csp=True)
    page.goto(shop["url"] + "/customer/gift")
    page.fill("#card-number", shop["number"])
    page.fill("#card-code", shop["code"])
    page.click("#gift-submit")
    page.wait_for_selector("#gift-result:not([hidden])")
    link = urlsplit(page.locator("#gift-link").input_value())
    assert page.locator("#withdraw-button").is_visible()
    _fits(page)
    page.screenshot(path=str(screenshots / "gift-link-made.png"), full_page=True)

    # The wrong person opens the link: still open.
    stranger = open_page("zh-CN", "390x844")
    stranger.goto(f"{shop['url']}{link.path}#{link.fragment}")
    stranger.wait_for_selector("#accept-form:not([hidden])")

    # The card's page, while the card is on offer, leads its giver to the withdrawal.
    page.goto(f"{shop['url']}/c/{shop['number']}")
    page.click(".holder-actions a[href$='#gift-withdraw']")
    page.wait_for_url(re.compile(r".*/customer/gift\?number=.*#gift-withdraw$"))
    assert page.locator("#card-number").input_value() == shop["number"]
    page.fill("#card-code", shop["code"])

    # The giver taps 撤回转赠 and is asked first; "不撤回" leaves the offer open.
    assert page.locator("#withdraw-button").inner_text() == "撤回转赠"
    page.click("#withdraw-button")
    page.wait_for_selector("#withdraw-confirm:not([hidden])")
    page.click("#withdraw-no")
    assert page.locator("#withdraw-confirm").is_hidden()
    page.click("#withdraw-button")
    page.wait_for_selector("#withdraw-confirm:not([hidden])")
    _fits(page)
    assert blocking(axe_violations(page)) == []
    page.screenshot(path=str(screenshots / "gift-withdraw-confirm.png"), full_page=True)
    page.click("#withdraw-yes")
    page.wait_for_selector("#withdraw-result:not([hidden])")
    assert page.locator("#withdraw-result").inner_text() == (
        "已撤回转赠：链接已失效，卡已回到您手中。"
    )
    assert page.locator("#gift-result").is_hidden()
    _fits(page)
    page.screenshot(path=str(screenshots / "gift-withdrawn.png"), full_page=True)

    # The stranger's page, still open, cannot take the card: it says the gift was withdrawn.
    stranger.fill("#accept-holder", "13900000000")
    stranger.click("#accept-submit")
    stranger.wait_for_selector("#customer-error:not([hidden])")
    assert stranger.locator("#customer-error").inner_text() == "转赠已撤回"
    assert stranger.locator("#gift-state").inner_text() == "已撤回：赠送人已收回此卡"
    assert stranger.locator("#accept-form").is_hidden()
    _fits(stranger)
    stranger.screenshot(path=str(screenshots / "gift-link-withdrawn.png"), full_page=True)

    # The card is the giver's to use again: its page no longer points to a withdrawal.
    page.goto(f"{shop['url']}/c/{shop['number']}")
    assert page.locator(".holder-actions a[href$='#gift-withdraw']").count() == 0
