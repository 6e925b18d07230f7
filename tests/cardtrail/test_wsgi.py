"""The gunicorn entry point: settings from the environment, proxies trusted only when told."""

from __future__ import annotations

import os
import stat

import pytest
from apptools import set_limits

from cardtrail.wsgi import build_app, proxy_hops
from ledger_service.config import ConfigError


def test_proxy_hops_is_a_whole_number():
    assert proxy_hops({}) == 0 and proxy_hops({"CARDTRAIL_PROXY_HOPS": "2"}) == 2
    with pytest.raises(ConfigError, match="CARDTRAIL_PROXY_HOPS"):
        proxy_hops({"CARDTRAIL_PROXY_HOPS": "yes"})


def _lookups_until_limited(app, forwarded_for: list[str]) -> list[int]:
    set_limits(app, public_per_ip=(2, 60.0))
    client = app.test_client()
    return [
        client.get("/api/v1/public/cards/23456789ABCDEFGH8",
                   headers={"X-Forwarded-For": ip}).status_code
        for ip in forwarded_for
    ]


def test_without_proxy_hops_a_forged_forwarded_for_does_not_escape_the_limit(tmp_path, sqlite_url):
    app = build_app({"CARDTRAIL_DATA_DIR": str(tmp_path), "DATABASE_URL": sqlite_url})
    statuses = _lookups_until_limited(app, ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    assert statuses[2] == 429, statuses


def test_behind_one_proxy_each_visitor_is_counted_by_forwarded_for(tmp_path, sqlite_url):
    app = build_app({"CARDTRAIL_DATA_DIR": str(tmp_path), "DATABASE_URL": sqlite_url,
                     "CARDTRAIL_PROXY_HOPS": "1"})
    statuses = _lookups_until_limited(app, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.1"])
    assert 429 not in statuses[:4] and statuses[4] == 429, statuses


def test_a_fresh_deployment_keeps_its_data_directory_and_files_to_the_owner(tmp_path):
    previous = os.umask(0o022)  # the usual default, under which a plain mkdir gives 0755
    try:
        build_app({"CARDTRAIL_DATA_DIR": str(tmp_path / "data")})
    finally:
        os.umask(previous)
    data = tmp_path / "data"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [data, *data.iterdir()]}
    assert modes["data"] == 0o700
    assert {"cardtrail.db", "secret.key", "migrate.lock"} <= modes.keys()
    assert {name: mode for name, mode in modes.items() if name != "data"} == {
        name: 0o600 for name in modes if name != "data"
    }
