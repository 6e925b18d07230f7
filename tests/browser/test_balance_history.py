"""The card page's balance history, as verify.js renders it in Chromium from the bundle
cases in tests/anchoring/bundles (no server, no chain: the case's chain is a stub).

The markup is the card page's own #balance section and a story entry, so the rows take
the story's words for their events."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
VERIFY_JS = ROOT / "portal" / "static" / "verify.js"
CASES = ROOT / "tests" / "anchoring" / "bundles"
URL = "https://cardtrail.test/c/CT9V4L2K7M3P8Q5XR"

# The card page's balance section (portal/templates/public/card.html) and one story entry.
PAGE = """<!doctype html><html><body>
<section class="timeline"><ol>
  <li class="event" data-leaf="1"><time>2026-11-24 14:11 UTC+8</time> <strong>Activated</strong></li>
</ol></section>
<section id="balance" class="balance" hidden>
  <p id="balance-now" class="balance-now"></p>
  <table id="balance-history"><tbody></tbody></table>
</section>
</body></html>"""

RENDER = """async (c) => {
  const v = window.CardTrailVerify;
  const rootAt = async (size) => c.chain.roots[String(size)] || "0".repeat(64);
  const result = await v.verifyBundle(c.bundle, rootAt, { chainId: c.chain.chain_id });
  v.renderBalance(document, result);
  const section = document.getElementById("balance");
  const table = document.getElementById("balance-history");
  return {
    ok: result.ok,
    hidden: section.hidden,
    verified: section.getAttribute("data-verified"),
    balance: section.getAttribute("data-balance"),
    now: document.getElementById("balance-now").textContent,
    tableHidden: table.hidden,
    rows: [...table.querySelectorAll("tbody tr")].map((tr) => ({
      seq: tr.getAttribute("data-seq"),
      pending: tr.getAttribute("data-pending"),
      cells: [...tr.children].map((td) => td.textContent),
    })),
  };
}"""


def _case(name: str) -> dict:
    return json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))


def _render(chromium, case: dict) -> dict:
    page = chromium.new_page()
    try:
        # WebCrypto needs a secure context: an https page, answered here, not by a server.
        page.route(URL, lambda route: route.fulfill(body=PAGE, content_type="text/html"))
        page.goto(URL)
        page.add_script_tag(path=str(VERIFY_JS))
        return page.evaluate(RENDER, case)
    finally:
        page.close()


def test_a_verified_history_shows_each_balance_and_says_pending_ones_are_not_proven(chromium):
    shown = _render(chromium, _case("valid-stored-value-history"))
    assert shown["ok"] and not shown["hidden"] and not shown["tableHidden"]
    assert (shown["verified"], shown["balance"]) == ("true", "37000")
    assert [r["seq"] for r in shown["rows"]] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert [r["pending"] for r in shown["rows"]] == ["false"] * 6 + ["true"] * 2
    first, redeemed, last = shown["rows"][0], shown["rows"][1], shown["rows"][-1]
    # The story's words for its events; the type where the page tells no story of it.
    assert first["cells"] == [
        "Activated 2026-11-24 14:11 UTC+8",
        "opening balance",
        "500.00 CNY",
        "proven",
    ]
    assert redeemed["cells"][:3] == ["REDEEMED", "−120.00 CNY", "380.00 CNY"]
    assert last["cells"] == ["BALANCE_RECEIVED", "+10.00 CNY", "370.00 CNY", "not yet proven"]
    assert "Balance now: 370.00 CNY, not yet proven" in shown["now"]
    assert "Last proven balance: 400.00 CNY." in shown["now"]


def test_a_count_card_shows_uses(chromium):
    shown = _render(chromium, _case("valid-count-card"))
    assert shown["verified"] == "true"
    assert shown["rows"][-1]["cells"][1:] == ["−1 use(s)", "8 use(s)", "proven"]
    assert shown["now"] == "Balance: 8 use(s), proven by the anchored log (after seq 3)."


def test_a_history_that_does_not_add_up_shows_no_balance_and_says_why(chromium):
    shown = _render(chromium, _case("balance-does-not-add-up"))
    assert not shown["ok"] and not shown["hidden"] and shown["tableHidden"]
    assert shown["verified"] == "false" and shown["rows"] == []
    assert shown["now"].startswith("The balance history does not add up")
    assert "the event says 49000" in shown["now"]


def test_a_balance_that_adds_up_is_not_shown_as_verified_when_a_proof_fails(chromium):
    case = copy.deepcopy(_case("valid-stored-value-history"))
    case["chain"]["roots"] = {}
    shown = _render(chromium, case)
    assert not shown["ok"] and not shown["hidden"] and shown["tableHidden"]
    assert shown["verified"] == "false" and shown["balance"] is None
    assert shown["now"].startswith("The balance is not verified")


@pytest.mark.parametrize("name", ["valid-v2", "valid-pickup-card-redeemed"])
def test_a_card_without_value_events_shows_no_balance(chromium, name):
    shown = _render(chromium, _case(name))
    assert shown["ok"] and shown["hidden"]
