"""``cardtrail up``'s base URL (the configured one, else the address it serves on) and
its development issuer descriptor."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
import pytest

from anchoring.checkpoints import Deployment
from anchoring.issuer import parse_descriptor
from cardtrail.run import with_base_url, write_dev_issuer
from ledger_service import demo as demo_data
from ledger_service.config import Settings


def test_up_in_development_links_to_the_address_it_serves_on(tmp_path):
    settings = with_base_url(Settings.from_env(tmp_path, environ={}), "0.0.0.0", 8123)
    assert settings.base_url == "http://127.0.0.1:8123"
    assert settings.trusted_hosts == ["127.0.0.1", "localhost"]
    on_lan = with_base_url(Settings.from_env(tmp_path, environ={}), "192.0.2.7", 8000)
    assert on_lan.base_url == "http://192.0.2.7:8000" and "192.0.2.7" in on_lan.trusted_hosts


def test_up_keeps_a_configured_base_url_whatever_it_listens_on(tmp_path):
    environ = {"CHAIN_RPC_URL": "http://127.0.0.1:9", "CARDTRAIL_PUBLIC_BASE_URL": "https://c.test"}
    settings = with_base_url(Settings.from_env(tmp_path, environ=environ), "0.0.0.0", 0)
    assert settings.base_url == "https://c.test"


def test_up_on_any_free_port_needs_a_configured_base_url(tmp_path):
    with pytest.raises(click.UsageError, match="CARDTRAIL_PUBLIC_BASE_URL"):
        with_base_url(Settings.from_env(tmp_path, environ={}), "127.0.0.1", 0)


def _deployment(contract: str = "0x" + "ab" * 20) -> Deployment:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    return Deployment(31337, contract, "0x" + "de" * 20, "0x" + "01" * 32, 7, moment, 1)


def test_up_in_development_writes_the_issuer_descriptor_of_its_deployment(tmp_path):
    settings = with_base_url(Settings.from_env(tmp_path, environ={}), "127.0.0.1", 8123)
    path = write_dev_issuer(settings, _deployment())
    assert path == tmp_path / "issuer.json"
    descriptor = parse_descriptor(json.loads(path.read_text(encoding="utf-8")))
    assert (descriptor.chain_id, descriptor.contract) == (31337, "0x" + "ab" * 20)
    assert descriptor.deployment_block == 7 and descriptor.api_origin == "http://127.0.0.1:8123"
    # A redeployment replaces it.
    write_dev_issuer(settings, _deployment("0x" + "cd" * 20))
    assert json.loads(path.read_text(encoding="utf-8"))["contract"] == "0x" + "cd" * 20


def test_up_with_the_demo_names_the_demo_merchant_as_the_issuer(tmp_path):
    settings = with_base_url(Settings.from_env(tmp_path, environ={}), "127.0.0.1", 8123)
    plain = parse_descriptor(json.loads(write_dev_issuer(settings, _deployment()).read_text()))
    assert "CardTrail" in plain.name_en
    path = write_dev_issuer(settings, _deployment(), demo=True)
    descriptor = parse_descriptor(json.loads(path.read_text(encoding="utf-8")))
    assert (descriptor.name_zh, descriptor.name_en) == demo_data.ISSUER_NAMES


def test_up_never_writes_over_a_configured_issuer_file_nor_in_production(tmp_path):
    mine = tmp_path / "mine.json"
    configured = Settings.from_env(tmp_path, environ={"CARDTRAIL_ISSUER_FILE": str(mine)})
    assert write_dev_issuer(configured, _deployment()) is None and not mine.exists()
    environ = {"CHAIN_RPC_URL": "http://127.0.0.1:9", "CARDTRAIL_PUBLIC_BASE_URL": "https://c.test"}
    assert write_dev_issuer(Settings.from_env(tmp_path, environ=environ), _deployment()) is None
    assert not (tmp_path / "issuer.json").exists()
