"""The independent verifier (``make verifier``), opened from disk in Chromium, checks a
card served by a running CardTrail against the contract pinned in the file."""

from __future__ import annotations

import json
import urllib.request

import pytest
from test_verify_page import anvil, portal  # noqa: F401  (fixtures: the chain and the app)

from anchoring import checkpoints
from anchoring.db import read_transaction
from scripts import build_verifier

pytestmark = [pytest.mark.browser, pytest.mark.node]


def _built(tmp_path, portal, contract: str | None = None):  # noqa: F811
    with read_transaction(portal["engine"]) as conn:
        deployment = checkpoints.current_deployment(conn)
    assert deployment is not None
    descriptor = {
        "format": "cardtrail-issuer/1",
        "name": {"zh": "测试发行方", "en": "Test issuer"},
        "chain_id": deployment.chain_id,
        "contract": contract or deployment.contract,
        "deployment_block": 0,
        "api_origin": portal["url"],
        "rpc_urls": [portal["rpc"]],
        "serves": "cardtrail-bundle/2",
    }
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps({"issuers": [descriptor]}), encoding="utf-8")
    out = tmp_path / "verifier.html"
    out.write_bytes(build_verifier.build(issuers))
    return out


def _run(chromium, path, text: str, bundle: dict | None = None):
    """The file from disk looking up ``text``; ``bundle``: what a lying issuer API serves
    instead of the genuine bundle."""
    page = chromium.new_page()
    if bundle is not None:
        served = json.dumps(bundle)
        page.route(
            "**/bundle*",
            lambda route: route.fulfill(
                status=200,
                content_type="application/json",
                headers={"Access-Control-Allow-Origin": "*"},
                body=served,
            ),
        )
    page.goto(path.as_uri())
    page.fill("#card-input", text)
    page.click("#lookup-form button")
    page.wait_for_selector("#verdict[data-ok]", timeout=30_000)
    return page


def test_the_file_from_disk_fetches_the_bundle_and_pins_the_issuers_contract(
    chromium,
    portal,  # noqa: F811
    tmp_path,
):
    # A scanned QR address works as well as the number: the fetch from disk across origins,
    # the pinned contract, and every check of a genuine card's bundle hold.
    page = _run(chromium, _built(tmp_path, portal), f"https://x.example/c/{portal['number']}")
    try:
        issuer = page.query_selector("#checks li[data-check='issuer']")
        assert issuer is not None and issuer.get_attribute("data-ok") == "true"
        failed = page.query_selector_all("#checks li[data-ok='false']")
        assert [row.get_attribute("data-check") for row in failed] == []
        assert page.get_attribute("#verdict", "data-ok") == "true"
    finally:
        page.close()


def test_a_bundle_with_the_cards_last_event_left_out_fails_complete(
    chromium,
    portal,  # noqa: F811
    tmp_path,
):
    # A lying issuer API serves the genuine bundle without the card's last event.
    bundle_path = f"/api/v1/public/cards/{portal['number']}/bundle"
    with urllib.request.urlopen(portal["url"] + bundle_path, timeout=30) as answer:
        truncated = json.load(answer)
    truncated["events"] = truncated["events"][:-1]
    page = _run(chromium, _built(tmp_path, portal), portal["number"], truncated)
    try:
        assert page.get_attribute("#verdict", "data-ok") == "false"
        failed = page.query_selector_all("#checks li[data-ok='false']")
        assert [row.get_attribute("data-check") for row in failed] == ["complete"]
    finally:
        page.close()


def test_a_bundle_naming_another_contract_than_the_pinned_one_fails(
    chromium,
    portal,  # noqa: F811
    tmp_path,
):
    page = _run(chromium, _built(tmp_path, portal, "0x" + "ab" * 20), portal["number"])
    try:
        assert page.get_attribute("#verdict", "data-ok") == "false"
        issuer = page.query_selector("#checks li[data-check='issuer']")
        assert issuer is not None and issuer.get_attribute("data-ok") == "false"
    finally:
        page.close()


def test_a_malformed_bundle_is_refused_in_chinese_from_the_files_own_catalogue(
    chromium,
    portal,  # noqa: F811
    tmp_path,
):
    # The file's language is Chinese: verify.js words the format error from the catalogue
    # compiled into the file, with no request for it.
    malformed = {"format": "cardtrail-bundle/2", "events": []}
    page = _run(chromium, _built(tmp_path, portal), portal["number"], malformed)
    try:
        assert page.get_attribute("#verdict", "data-ok") == "false"
        row = page.query_selector("#checks li[data-check='format']")
        assert row is not None and row.get_attribute("data-ok") == "false"
        assert "bundle.card_number 必须是 1–64 个可打印的 ASCII 字符" in row.inner_text()
    finally:
        page.close()
