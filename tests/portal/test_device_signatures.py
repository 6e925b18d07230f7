"""The card page names the store device that signed an event, publishes the store's keys
for the browser, and the browser's check (signatures.js) accepts the served event's
signature (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account

from ledger_service import devices
from ledger_service.actor import Actor

ROOT = Path(__file__).resolve().parents[2]
DEVICE = Account.from_key(bytes([41] * 32))
STORE = Actor("store", "tok_s1_test", store_id="S1")
HQ = Actor("hq", "tok_hq_test")


@pytest.fixture
def signed_card(cards):
    """A card redeemed at S1 with a signature by S1's registered device."""
    cards.store("S1")
    devices.KeyRegistry(cards.engine).register(HQ, "S1", DEVICE.address)
    number, code = cards.issue()
    when = devices.timestamp(datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
    cmd = devices.StoreCommand(number, "redeem", "S1", "", when, "c-portal-0001")
    cards.ledger.redeem(STORE, number, code, signature=devices.sign(cmd, DEVICE.key))
    return number


def test_the_page_names_the_signing_device_and_its_store(client, signed_card):
    page = client.get(f"/c/{signed_card}").get_data(as_text=True)
    assert f"signed by device <code>{DEVICE.address}</code> of store Shanghai Nanjing Road" in page
    assert re.search(r'class="sig-check" data-leaf="1"', page)
    keys = re.search(r'data-device-keys="([^"]*)"', page).group(1)
    assert json.loads(html.unescape(keys)) == {"S1": [DEVICE.address]}
    assert page.index("signatures.js") < page.index("verify.js")


def test_an_unsigned_event_claims_no_device(client, cards):
    cards.store("S1")
    number, code = cards.issue()
    cards.ledger.redeem(STORE, number, code)
    page = client.get(f"/c/{number}").get_data(as_text=True)
    assert "signed by device" not in page and "sig-check" not in page


def test_the_browser_check_accepts_the_served_events_signature(
    client, signed_card, tmp_path, node_binary
):
    bundle = client.get(f"/api/v1/public/cards/{signed_card}/bundle").get_json()
    [redeemed] = [
        e["event"] for e in bundle["events"] + bundle["pending"] if e["event"]["type"] == "REDEEMED"
    ]
    assert redeemed["occurred_at"] == "2026-11-24T05:00:00.000Z"
    case = tmp_path / "served.json"
    tampered = tmp_path / "served-tampered.json"
    keys = {"S1": [DEVICE.address]}
    case.write_text(json.dumps({"card_number": signed_card, "event": redeemed, "store_keys": keys}))
    changed = {**redeemed, "data": {**redeemed["data"], "signed_at": "2026-11-24T05:00:00.001Z"}}
    tampered.write_text(
        json.dumps({"card_number": signed_card, "event": changed, "store_keys": keys})
    )
    out = subprocess.run(
        [node_binary, str(ROOT / "tests" / "portal" / "run_signatures_js.js"), str(case), str(tampered)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = json.loads(out.stdout)
    assert results["served"] == {"ok": True, "registered": True, "recovered": DEVICE.address}
    assert results["served-tampered"]["ok"] is False
    assert timedelta(0) < datetime.fromisoformat(redeemed["recorded_at"]) - datetime.fromisoformat(
        redeemed["occurred_at"]
    )
