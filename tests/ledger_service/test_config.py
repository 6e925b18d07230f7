"""Settings: the data directory and the server secret are the owner's alone; the public
base URL is the one source of absolute links."""

from __future__ import annotations

import dataclasses
import logging
import stat

import pytest

from ledger_service.config import ConfigError, Settings

PRODUCTION = {"CHAIN_RPC_URL": "https://rpc.example.com"}


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_is_created_0700(tmp_path, usual_umask):
    settings = Settings.from_env(tmp_path / "data", environ={})
    assert settings.prepare_data_dir() == tmp_path / "data"
    assert _mode(tmp_path / "data") == 0o700


def test_a_data_directory_left_0755_by_an_older_version_is_tightened_with_a_log_line(
    tmp_path, usual_umask, caplog
):
    (tmp_path / "data").mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING, logger="cardtrail.anchoring"):
        Settings.from_env(tmp_path / "data", environ={}).prepare_data_dir()
    assert _mode(tmp_path / "data") == 0o700
    assert "from 0755 to 0700" in caplog.text


def test_the_generated_secret_key_is_0600(tmp_path, usual_umask):
    settings = Settings.from_env(tmp_path / "data", environ={})
    settings.prepare_data_dir()
    assert len(settings.secret_key()) == 32
    assert _mode(tmp_path / "data" / "secret.key") == 0o600


def _load(tmp_path, **environ: str) -> Settings:
    return Settings.from_env(tmp_path, environ=environ)


def test_production_settings_without_the_public_base_url_do_not_load(tmp_path):
    with pytest.raises(ConfigError, match="CARDTRAIL_PUBLIC_BASE_URL is required"):
        _load(tmp_path, **PRODUCTION)
    with pytest.raises(ConfigError, match="CARDTRAIL_PUBLIC_BASE_URL is required"):
        _load(tmp_path, CARDTRAIL_PUBLIC_BASE_URL="", **PRODUCTION)


def test_production_settings_built_without_a_base_url_refuse_to_make_links(tmp_path):
    settings = dataclasses.replace(_load(tmp_path), chain_rpc_url="https://rpc.example.com")
    with pytest.raises(ConfigError, match="CARDTRAIL_PUBLIC_BASE_URL"):
        _ = settings.base_url


def test_the_public_base_url_is_kept_as_an_origin(tmp_path):
    settings = _load(tmp_path, CARDTRAIL_PUBLIC_BASE_URL="https://Cards.Example.com/", **PRODUCTION)
    assert settings.base_url == "https://cards.example.com"
    assert settings.trusted_hosts == ["cards.example.com"]
    with_port = _load(tmp_path, CARDTRAIL_PUBLIC_BASE_URL="http://cards.example.com:8080")
    assert with_port.base_url == "http://cards.example.com:8080"


def test_development_defaults_to_the_local_up_address_and_trusts_loopback(tmp_path):
    settings = _load(tmp_path)
    assert settings.dev_mode and settings.base_url == "http://127.0.0.1:8000"
    assert settings.trusted_hosts == ["127.0.0.1", "localhost"]
    configured = _load(tmp_path, CARDTRAIL_PUBLIC_BASE_URL="http://shop.test:8000")
    assert configured.trusted_hosts == ["shop.test", "127.0.0.1", "localhost"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("cards.example.com", "http:// or https://"),
        ("ftp://cards.example.com", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https://", "must name a host"),
        ("https://cards.example.com:0", "invalid port"),
        ("https://cards.example.com:99999", "invalid port"),
        ("https://cards.example.com/cards", "origin only"),
        ("https://cards.example.com/?x=1", "origin only"),
        ("https://cards.example.com?", "origin only"),
        ("https://cards.example.com#top", "origin only"),
        ("https://user:pw@cards.example.com", "user name or password"),
        ("https://[::1]:8000", "DNS name or an IPv4 address"),
    ],
)
def test_a_malformed_public_base_url_is_a_config_error_naming_it(tmp_path, raw, problem):
    with pytest.raises(ConfigError, match="CARDTRAIL_PUBLIC_BASE_URL") as refused:
        _load(tmp_path, CARDTRAIL_PUBLIC_BASE_URL=raw, **PRODUCTION)
    assert problem in str(refused.value)
    with pytest.raises(ConfigError, match="CARDTRAIL_PUBLIC_BASE_URL"):
        _load(tmp_path, CARDTRAIL_PUBLIC_BASE_URL=raw)  # in development too


def test_the_merchants_time_zone_defaults_to_beijing_time(tmp_path):
    settings = Settings.from_env(tmp_path, environ={})
    assert settings.timezone == "Asia/Shanghai"
    assert settings.zone.key == "Asia/Shanghai"


def test_another_time_zone_is_taken_by_its_iana_name(tmp_path):
    settings = Settings.from_env(tmp_path, environ={"CARDTRAIL_TIMEZONE": "Europe/Berlin"})
    assert settings.zone.key == "Europe/Berlin"


@pytest.mark.parametrize("raw", ["Beijing", "UTC+8", "../../etc/passwd", "Asia/Nowhere"])
def test_a_time_zone_that_is_not_an_iana_name_is_a_config_error_naming_it(tmp_path, raw):
    with pytest.raises(ConfigError, match="CARDTRAIL_TIMEZONE .* got"):
        Settings.from_env(tmp_path, environ={"CARDTRAIL_TIMEZONE": raw})


def test_rate_limits_count_in_process_memory_unless_a_shared_store_is_set(tmp_path):
    assert _load(tmp_path).rate_limit_storage == "memory://"
    shared = "redis://:pw@cache.internal:6379/2"
    assert _load(tmp_path, CARDTRAIL_RATE_LIMIT_STORAGE=shared).rate_limit_storage == shared


@pytest.mark.parametrize("raw", ["redis", "127.0.0.1:6379", "memcached://cache:11211", "mem://"])
def test_an_unknown_rate_limit_store_is_a_config_error_naming_the_setting(tmp_path, raw):
    with pytest.raises(ConfigError, match="CARDTRAIL_RATE_LIMIT_STORAGE") as refused:
        _load(tmp_path, CARDTRAIL_RATE_LIMIT_STORAGE=raw)
    assert "redis://" in str(refused.value) and repr(raw) in str(refused.value)


def test_group_commit_is_on_by_default_and_zero_turns_it_off(tmp_path):
    assert Settings.from_env(tmp_path, environ={}).group_commit_ms == 2.0
    off = Settings.from_env(tmp_path, environ={"CARDTRAIL_GROUP_COMMIT_MS": "0"})
    assert off.group_commit_ms == 0.0
    longer = Settings.from_env(tmp_path, environ={"CARDTRAIL_GROUP_COMMIT_MS": "7.5"})
    assert longer.group_commit_ms == 7.5


@pytest.mark.parametrize("raw", ["-1", "1001", "nan", "inf", "fast"])
def test_a_group_commit_window_out_of_range_is_a_config_error_naming_it(tmp_path, raw):
    with pytest.raises(ConfigError, match="CARDTRAIL_GROUP_COMMIT_MS"):
        Settings.from_env(tmp_path, environ={"CARDTRAIL_GROUP_COMMIT_MS": raw})
