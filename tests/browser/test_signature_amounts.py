"""The card page's device-signature check in Chromium: signatures.js shows the amount a
device signed beside the amount the event records, and fails the event when they differ,
in English and in Chinese (events from tests/portal/signature_cases; no server, no
chain)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from scripts.build_verifier import browser_messages

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SIGNATURES_JS = ROOT / "portal" / "static" / "signatures.js"
CASES = ROOT / "tests" / "portal" / "signature_cases"
URL = "https://cardtrail.test/c/23456789ABCDEFGH8"
# One event per case, each at its own leaf of the page.
SHOWN = {
    1: "valid-redeem-of-an-amount",
    2: "amount-differs-from-the-signed-one",
    3: "version-2-amount-not-signed",
    4: "valid-pickup-ready",
}

SLOTS = """async () => {
  return [...document.querySelectorAll(".sig-check")].map((slot) => ({
    leaf: slot.getAttribute("data-leaf"),
    ok: slot.getAttribute("data-ok"),
    version: slot.getAttribute("data-version"),
    signed: slot.getAttribute("data-signed-amount"),
    amount: slot.getAttribute("data-amount"),
    text: slot.textContent,
  }));
}"""


def _case(name: str) -> dict:
    return json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))


def _page(messages: dict[str, str]) -> tuple[str, dict]:
    """The card page's #verifier, signature slots and catalogue ``messages``
    (portal/templates/public/card.html), and the bundle of the :data:`SHOWN` events."""
    first = _case(SHOWN[1])
    keys = html.escape(json.dumps(first["store_keys"]))
    deployments = html.escape(json.dumps(first["deployments"]))
    slots = "".join(
        f'<li><span class="sig-check" data-leaf="{leaf}">not checked</span></li>' for leaf in SHOWN
    )
    catalogue = json.dumps(messages, ensure_ascii=False).replace("</", "<\\/")
    markup = f"""<!doctype html><html><head><meta charset="utf-8"></head><body>
<ol>{slots}</ol>
<script type="application/json" id="cardtrail-messages">{catalogue}</script>
<section id="verifier" data-card-number="{first["card_number"]}"
         data-device-keys="{keys}" data-signing-deployments="{deployments}"></section>
</body></html>"""
    events = [{"leaf_index": leaf, "event": _case(name)["event"]} for leaf, name in SHOWN.items()]
    return markup, {"events": events, "pending": []}


def _slots(chromium, messages: dict[str, str]) -> dict[str, dict]:
    """The signature slots after signatures.js checked the :data:`SHOWN` events, by leaf."""
    markup, bundle = _page(messages)
    page = chromium.new_page()
    try:
        page.route(URL, lambda route: route.fulfill(body=markup, content_type="text/html"))
        page.goto(URL)
        page.add_script_tag(path=str(SIGNATURES_JS))
        page.evaluate(
            """(bundle) => document.getElementById("verifier").dispatchEvent(
                 new CustomEvent("cardtrail:bundle", { detail: bundle }))""",
            bundle,
        )
        return {s["leaf"]: s for s in page.evaluate(SLOTS)}
    finally:
        page.close()


def test_the_browser_shows_the_signed_amount_and_fails_another(chromium):
    slots = _slots(chromium, {})
    paid, inflated, old, pickup = (slots[str(leaf)] for leaf in SHOWN)
    assert (paid["ok"], paid["version"], paid["signed"], paid["amount"]) == (
        "true",
        "3",
        "2500",
        "2500",
    )
    assert paid["text"].startswith("✔") and "signed amount 2500" in paid["text"]
    assert (inflated["ok"], inflated["signed"], inflated["amount"]) == ("false", "2500", "9000")
    assert "signed amount 2500, but this event records 9000" in inflated["text"]
    assert (old["ok"], old["version"], old["signed"]) == ("true", "2", None)
    assert "server's word alone" in old["text"]
    assert (pickup["ok"], pickup["signed"], pickup["amount"]) == ("true", "0", "0")
    assert "moves no value" in pickup["text"]


def test_the_chinese_page_says_it_in_chinese(chromium):
    slots = _slots(chromium, browser_messages())
    paid, inflated, old, _ = (slots[str(leaf)] for leaf in SHOWN)
    assert "设备签署的金额是 2500，正是此事件记录的金额" in paid["text"]
    assert paid["text"].startswith("✔ 签名已在您的浏览器中校验：")
    assert inflated["ok"] == "false"
    assert "签署的金额是 2500，但此事件记录的是 9000" in inflated["text"]
    assert "只是服务器的一面之词" in old["text"]
