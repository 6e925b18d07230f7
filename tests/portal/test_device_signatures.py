"""The card page names the store device that signed an event, publishes the store's keys
and the server's deployments for the browser, and the browser's check (signatures.js)
accepts the served event's signature, made for this deployment (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account

from anchoring import checkpoints
from anchoring.db import write_transaction
from ledger_service import devices
from ledger_service.actor import Actor

ROOT = Path(__file__).resolve().parents[2]
DEVICE = Account.from_key(bytes([41] * 32))
STORE = Actor("store", "tok_s1_test", store_id="S1")
HQ = Actor("hq", "tok_hq_test")
HERE = devices.SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def deploy(engine, domain: devices.SigningDomain) -> None:
    """Record ``domain`` as the current LedgerAnchor deployment (retiring any other)."""
    with write_transaction(engine) as conn:
        checkpoints.record_deployment(
            conn, domain.chain_id, domain.contract, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )


@pytest.fixture
def signed_card(cards):
    """A card redeemed at S1 with a signature by S1's registered device, for :data:`HERE`."""
    deploy(cards.engine, HERE)
    cards.store("S1")
    devices.KeyRegistry(cards.engine).register(HQ, "S1", DEVICE.address)
    number, code = cards.issue()
    when = devices.timestamp(datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
    cmd = devices.StoreCommand(number, "redeem", "S1", "", when, "c-portal-0001")
    cards.ledger.redeem(STORE, number, code, signature=devices.sign(cmd, DEVICE.key, HERE))
    return number


def test_the_page_names_the_signing_device_and_its_store(client, signed_card):
    page = client.get(f"/c/{signed_card}").get_data(as_text=True)
    # The story names the store; the device's address is a technical detail.
    story, technical = page.split('<details class="technical">', 1)
    assert "signed at the counter of store Shanghai Nanjing Road" in story
    assert DEVICE.address not in story
    assert f"signed by device <code>{DEVICE.address}</code>" in technical
    assert re.search(r'class="sig-check" data-leaf="1"', page)
    keys = re.search(r'data-device-keys="([^"]*)"', page).group(1)
    assert json.loads(html.unescape(keys)) == {"S1": [DEVICE.address]}
    listed = re.search(r'data-signing-deployments="([^"]*)"', page).group(1)
    assert json.loads(html.unescape(listed)) == [HERE.to_json()]


def test_the_page_lists_earlier_deployments_too(client, cards, signed_card):
    replaced = devices.SigningDomain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    deploy(cards.engine, replaced)
    page = client.get(f"/c/{signed_card}").get_data(as_text=True)
    listed = re.search(r'data-signing-deployments="([^"]*)"', page).group(1)
    assert json.loads(html.unescape(listed)) == [HERE.to_json(), replaced.to_json()]
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
    assert redeemed["data"]["deployment"] == HERE.to_json()
    keys = {"S1": [DEVICE.address]}
    other_chain = {"chain_id": 1, "contract": HERE.contract}
    variants = {
        "served": redeemed,
        "served-tampered": {
            **redeemed,
            "data": {**redeemed["data"], "signed_at": "2026-11-24T05:00:00.001Z"},
        },
        "served-other-chain": {**redeemed, "data": {**redeemed["data"], "deployment": other_chain}},
    }
    files = []
    for name, event in variants.items():
        case = tmp_path / f"{name}.json"
        case.write_text(
            json.dumps(
                {
                    "card_number": signed_card,
                    "event": event,
                    "store_keys": keys,
                    "deployments": [HERE.to_json(), other_chain],
                }
            )
        )
        files.append(str(case))
    out = subprocess.run(
        [node_binary, str(ROOT / "tests" / "portal" / "run_signatures_js.js"), *files],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = json.loads(out.stdout)
    assert results["served"] == {
        "ok": True,
        "registered": True,
        "recovered": DEVICE.address,
        "bound": True,
        "version": 3,
        "signed_amount": 0,
        "amount": 0,
    }
    assert results["served-tampered"]["ok"] is False
    # Claiming another chain, even one the page lists, recovers to another key.
    assert results["served-other-chain"]["ok"] is False
    assert results["served-other-chain"]["recovered"] != DEVICE.address
    assert timedelta(0) < datetime.fromisoformat(redeemed["recorded_at"]) - datetime.fromisoformat(
        redeemed["occurred_at"]
    )
