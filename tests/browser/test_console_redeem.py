"""Store staff redeem a card at the counter in Chromium; headquarters then sees it on the
dashboard. No chain is needed: the console reads and writes the ledger only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from cardtrail.app import create_app
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.config import Settings
from ledger_service.domain.numbers import format_card_number
from ledger_service.service import Ledger

pytestmark = pytest.mark.browser

HQ = Actor("hq", "tok_browser_console")


@pytest.fixture
def shop(tmp_path, serve) -> Iterator[dict]:
    """The app on a free port with two stores, one card, and hq and store tokens."""
    settings = Settings.from_env(
        tmp_path / "data", environ={"DATABASE_URL": f"sqlite:///{tmp_path / 'cardtrail.db'}"}
    )
    app = create_app(settings)
    rt = app.extensions["cardtrail"]
    ledger = Ledger(rt.engine, rt.secret_key)
    ledger.create_store(HQ, "SH01", "上海南京西路店 Shanghai West Nanjing Road", "east")
    ledger.create_store(HQ, "BJ01", "北京王府井旗舰店 Beijing Wangfujing", "north")
    [card] = ledger.issue_cards(
        HQ,
        "B-BROWSER",
        [{"product": "岭泉 53° 500ml", "face_value": 149900, "currency": "CNY"}],
        active=True,
    )["cards"]
    yield {
        "url": serve(app),
        "number": card["card_number"],
        "code": card["redemption_code"],
        "hq": create_token(rt.engine, rt.secret_key, "hq").token,
        "store": create_token(rt.engine, rt.secret_key, "store", "SH01").token,
        "ledger": ledger,
    }
    rt.engine.dispose()


def _page(chromium, errors: list[str]):
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page


def _sign_in(page, url: str, token: str) -> None:
    page.goto(f"{url}/console/")
    page.fill("#token", token)
    page.press("#token", "Enter")


def _focused(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_staff_redeem_a_card_and_headquarters_sees_it(chromium, shop, screenshots):
    errors: list[str] = []

    # At the counter: the number field waits for the scanner; Enter moves on to the code.
    staff, page = _page(chromium, errors)
    _sign_in(page, shop["url"], shop["store"])
    page.wait_for_url("**/console/counter")
    assert _focused(page) == "number"
    page.keyboard.type(format_card_number(shop["number"]).lower().replace("-", " "))
    page.keyboard.press("Enter")
    page.wait_for_selector('#card[data-state="ISSUED"]')
    assert _focused(page) == "code"
    page.screenshot(path=str(screenshots / "1-counter-card.png"), full_page=True)
    page.keyboard.type(shop["code"])
    page.keyboard.press("Enter")
    result = page.wait_for_selector("#result")
    assert format_card_number(shop["number"]) in result.inner_text()
    assert page.inner_text("#today-redeemed") == "1"
    assert _focused(page) == "number"
    page.screenshot(path=str(screenshots / "2-counter-redeemed.png"), full_page=True)

    # The same card again is refused at once.
    page.fill("#number", shop["number"])
    page.fill("#code", shop["code"])
    page.press("#code", "Enter")
    assert "already" in page.wait_for_selector("#error").inner_text()
    staff.close()

    # Headquarters: the redemption is on the dashboard, in the totals, the store row and the chart.
    hq, page = _page(chromium, errors)
    _sign_in(page, shop["url"], shop["hq"])
    page.wait_for_url("**/console/dashboard")
    assert page.inner_text("#total-redeemed") == "1"
    assert page.inner_text("#total-issued") == "1"
    assert page.inner_text('#per-store tr[data-store="SH01"] td.redeemed') == "1"
    assert page.inner_text('#per-store tr[data-store="BJ01"] td.redeemed') == "0"
    bar = page.query_selector('svg.bars rect[data-series="redeemed"][data-value="1"]')
    assert bar is not None and float(bar.get_attribute("height")) > 0
    assert page.query_selector('#anomalies [data-kind="used_card_attempt"]') is not None
    page.screenshot(path=str(screenshots / "3-dashboard.png"), full_page=True)

    # The card's page in the console shows the REDEEMED event at the store.
    page.goto(f"{shop['url']}/console/cards?number={shop['number']}")
    rows = page.query_selector_all("#events tr[data-type]")
    assert [r.get_attribute("data-type") for r in rows] == ["ISSUED", "REDEEMED"]
    assert re.search("Shanghai", rows[1].inner_text())
    page.screenshot(path=str(screenshots / "4-card.png"), full_page=True)
    hq.close()

    assert shop["ledger"].get_card(HQ, shop["number"])["state"] == "REDEEMED"
    # Nothing was blocked by the Content-Security-Policy or failed to load; the one error
    # the browser reports is the refused second redemption's own 409 answer.
    assert errors == [
        "Failed to load resource: the server responded with a status of 409 (CONFLICT)"
    ]
