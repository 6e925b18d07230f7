"""The issuer descriptor at /.well-known/cardtrail-issuer.json, from configuration only,
and the card page's pinned contract."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from anchoring.issuer import WELL_KNOWN_PATH
from ledger_service.config import ConfigError, Settings

DESCRIPTOR = {
    "format": "cardtrail-issuer/1",
    "name": {"zh": "示例酒业", "en": "Example Liquor"},
    "chain_id": 8453,
    "contract": "0x" + "ab" * 20,
    "deployment_block": 12,
    "api_origin": "https://cards.example.com",
    "rpc_urls": ["https://rpc.example.com"],
    "serves": "cardtrail-bundle/1",
}


@pytest.fixture
def issuer_file(tmp_path):
    path = tmp_path / "issuer.json"
    path.write_text(json.dumps(DESCRIPTOR), encoding="utf-8")
    return path


@pytest.fixture
def app(settings, issuer_file):
    """The app with CARDTRAIL_ISSUER_FILE configured (the ``client`` and ``cards`` use it)."""
    from cardtrail.app import create_app

    application = create_app(
        dataclasses.replace(settings, issuer_file=issuer_file), {"TESTING": True}
    )
    yield application
    application.extensions["cardtrail"].engine.dispose()


@pytest.fixture
def dev_client(settings):
    """A client of an app in development with no descriptor configured."""
    from cardtrail.app import create_app

    application = create_app(settings, {"TESTING": True})
    yield application.test_client()
    application.extensions["cardtrail"].engine.dispose()


def test_configured_descriptor_is_served_at_the_well_known_path(client, cards):
    # The database records another contract (as a tampered one would): the well-known
    # document still says what the operator configured.
    cards.issue()
    cards.anchor(chain_id=31337, contract="0x" + "66" * 20)
    response = client.get(WELL_KNOWN_PATH)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == DESCRIPTOR


def test_without_a_descriptor_the_well_known_path_is_not_found(dev_client):
    response = dev_client.get(WELL_KNOWN_PATH, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["code"] == "NOT_FOUND"


def test_the_development_descriptor_is_read_once_written(dev_client, settings):
    assert dev_client.get(WELL_KNOWN_PATH).status_code == 404
    path = settings.issuer_descriptor_file
    path.write_text(json.dumps(DESCRIPTOR), encoding="utf-8")
    assert dev_client.get(WELL_KNOWN_PATH).get_json()["contract"] == DESCRIPTOR["contract"]
    path.write_text(json.dumps(DESCRIPTOR | {"chain_id": 5, "deployment_block": 1234}))
    assert dev_client.get(WELL_KNOWN_PATH).get_json()["chain_id"] == 5


def test_a_malformed_configured_descriptor_stops_the_app_from_starting(settings, tmp_path):
    from cardtrail.app import create_app

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(DESCRIPTOR | {"contract": "nope"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="contract must be"):
        create_app(dataclasses.replace(settings, issuer_file=bad), {"TESTING": True})


def test_a_missing_configured_descriptor_stops_the_app_from_starting(settings, tmp_path):
    from cardtrail.app import create_app

    missing = tmp_path / "missing.json"
    with pytest.raises(ConfigError, match="does not exist"):
        create_app(dataclasses.replace(settings, issuer_file=missing), {"TESTING": True})


def test_issuer_file_setting_is_read_from_the_environment(tmp_path):
    settings = Settings.from_env(tmp_path, environ={"CARDTRAIL_ISSUER_FILE": "/etc/ct/i.json"})
    assert str(settings.issuer_descriptor_file) == "/etc/ct/i.json"


def test_production_without_the_setting_publishes_no_descriptor(tmp_path):
    env = {"CHAIN_RPC_URL": "https://rpc.example.com", "CARDTRAIL_PUBLIC_BASE_URL": "https://x.cn"}
    assert Settings.from_env(tmp_path, environ=env).issuer_descriptor_file is None


def _verifier_attributes(html: str) -> dict[str, str]:
    section = re.search(r'<section id="verifier"[^>]*>', html, re.S)
    assert section is not None
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', section.group(0)))


def test_card_page_pins_the_configured_contract_not_the_bundles(client, cards):
    number, _ = cards.issue()
    cards.anchor(chain_id=31337, contract="0x" + "66" * 20)
    attributes = _verifier_attributes(client.get(f"/c/{number}").get_data(as_text=True))
    assert attributes["pinned-contract"] == DESCRIPTOR["contract"]
    assert attributes["pinned-chain-id"] == str(DESCRIPTOR["chain_id"])
    assert attributes["pinned-serves"] == DESCRIPTOR["serves"]
    assert attributes["bundle-url"] == f"/api/v1/public/cards/{number}/bundle"
    bundle = client.get(f"/api/v1/public/cards/{number}/bundle").get_json()
    assert bundle["checkpoint"]["contract"] == "0x" + "66" * 20


def test_descriptor_is_readable_cross_origin(client):
    response = client.get(WELL_KNOWN_PATH, headers={"Origin": "https://verifier.example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_a_new_descriptor_is_a_new_card_page_not_a_cached_one(client, cards, issuer_file):
    number, _ = cards.issue()
    cards.anchor()
    first = client.get(f"/c/{number}")
    issuer_file.write_text(json.dumps(DESCRIPTOR | {"contract": "0x" + "cd" * 20}))
    second = client.get(f"/c/{number}", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    attributes = _verifier_attributes(second.get_data(as_text=True))
    assert attributes["pinned-contract"] == "0x" + "cd" * 20


def test_a_descriptor_serving_version_2_is_a_new_card_page_that_says_so(client, cards, issuer_file):
    # verify.js refuses a version 1 bundle from an issuer that serves version 2.
    number, _ = cards.issue()
    cards.anchor()
    first = client.get(f"/c/{number}")
    issuer_file.write_text(json.dumps(DESCRIPTOR | {"serves": "cardtrail-bundle/2"}))
    second = client.get(f"/c/{number}", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert _verifier_attributes(second.get_data(as_text=True))["pinned-serves"] == (
        "cardtrail-bundle/2"
    )


def test_card_page_names_the_issuer_as_its_descriptor_does_in_each_language(client, cards):
    number, _ = cards.issue()
    client.set_cookie("cardtrail_lang", "en")
    english = client.get(f"/c/{number}").get_data(as_text=True)
    assert "Issued by Example Liquor." in english
    assert "Accepted at every store of Example Liquor." in english
    client.set_cookie("cardtrail_lang", "zh_Hans_CN")
    chinese = client.get(f"/c/{number}").get_data(as_text=True)
    assert "发行方：示例酒业。" in chinese and "示例酒业 的所有门店均可使用" in chinese
