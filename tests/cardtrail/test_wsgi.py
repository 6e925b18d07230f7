"""The gunicorn entry point: settings from the environment, proxies trusted only when told,
links from the configured base URL only."""

from __future__ import annotations

import gc
import os
import stat

import pytest
from apptools import set_limits

from cardtrail.wsgi import build_app, proxy_hops
from ledger_service.actor import Actor
from ledger_service.config import ConfigError
from ledger_service.service import Ledger
from portal.public import qr_svg

PUBLIC = "https://cards.example.com"
HQ = Actor("hq", "tok_hq_test")


def test_proxy_hops_is_a_whole_number():
    assert proxy_hops({}) == 0 and proxy_hops({"CARDTRAIL_PROXY_HOPS": "2"}) == 2
    with pytest.raises(ConfigError, match="CARDTRAIL_PROXY_HOPS"):
        proxy_hops({"CARDTRAIL_PROXY_HOPS": "yes"})


def _lookups_until_limited(app, forwarded_for: list[str]) -> list[int]:
    set_limits(app, public_per_ip=(2, 60.0))
    client = app.test_client()
    return [
        client.get(
            "/api/v1/public/cards/23456789ABCDEFGH8", headers={"X-Forwarded-For": ip}
        ).status_code
        for ip in forwarded_for
    ]


def test_without_proxy_hops_a_forged_forwarded_for_does_not_escape_the_limit(tmp_path, sqlite_url):
    app = build_app({"CARDTRAIL_DATA_DIR": str(tmp_path), "DATABASE_URL": sqlite_url})
    statuses = _lookups_until_limited(app, ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    assert statuses[2] == 429, statuses


def test_behind_one_proxy_each_visitor_is_counted_by_forwarded_for(tmp_path, sqlite_url):
    app = build_app(
        {
            "CARDTRAIL_DATA_DIR": str(tmp_path),
            "DATABASE_URL": sqlite_url,
            "CARDTRAIL_PROXY_HOPS": "1",
        }
    )
    statuses = _lookups_until_limited(
        app, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.1"]
    )
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


def _production(tmp_path, sqlite_url, **extra) -> dict[str, str]:
    # CHAIN_RPC_URL makes these production settings; building the app does not dial it.
    return {
        "CARDTRAIL_DATA_DIR": str(tmp_path),
        "DATABASE_URL": sqlite_url,
        "CHAIN_RPC_URL": "http://127.0.0.1:9",
        "CARDTRAIL_PROXY_HOPS": "1",
        **extra,
    }


def test_production_without_a_public_base_url_does_not_start(tmp_path, sqlite_url):
    with pytest.raises(ConfigError, match="CARDTRAIL_PUBLIC_BASE_URL"):
        build_app(_production(tmp_path, sqlite_url))


def _issued(app) -> str:
    rt = app.extensions["cardtrail"]
    issued = Ledger(rt.engine, rt.secret_key).issue_cards(
        HQ, "B1", [{"product": "tea"}], active=True
    )
    return str(issued["cards"][0]["card_number"])


def test_behind_a_proxy_a_forged_forwarded_host_does_not_change_the_qr_code(tmp_path, sqlite_url):
    app = build_app(_production(tmp_path, sqlite_url, CARDTRAIL_PUBLIC_BASE_URL=PUBLIC + "/"))
    number = _issued(app)
    client = app.test_client()
    forged = client.get(
        f"/c/{number}/qr.svg",
        headers={
            "Host": "cards.example.com",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "192.0.2.1",
        },
    )
    assert forged.status_code == 200
    assert forged.data == qr_svg(f"{PUBLIC}/c/{number}", f"CardTrail {number}")
    assert forged.headers["Cache-Control"].startswith("public")


def test_behind_a_proxy_a_foreign_host_is_refused(tmp_path, sqlite_url):
    app = build_app(_production(tmp_path, sqlite_url, CARDTRAIL_PUBLIC_BASE_URL=PUBLIC))
    client = app.test_client()
    assert client.get("/", headers={"Host": "cards.example.com"}).status_code == 200
    assert client.get("/", headers={"Host": "cards.example.com:443"}).status_code == 200
    for host in ("evil.example", "localhost", "127.0.0.1"):
        assert client.get("/", headers={"Host": host}).status_code == 400, host


def test_the_served_app_is_frozen_out_of_the_collectors_scans():
    # Importing cardtrail.wsgi built the app gunicorn serves, then froze what it built.
    assert gc.get_freeze_count() > 0
