"""``cardtrail up``'s base URL: the configured one, else the address it serves on."""

from __future__ import annotations

import click
import pytest

from cardtrail.run import with_base_url
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
