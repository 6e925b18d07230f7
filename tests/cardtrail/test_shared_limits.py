"""Rate limits across processes: two apps on one database, as two workers or two hosts
are, enforce one budget together when they share a Redis store, and each their own with
``memory://``; an unreachable store leaves the pages up, limited per process."""

from __future__ import annotations

import logging
import secrets
import urllib.error
import urllib.request
from contextlib import ExitStack
from itertools import cycle

import pytest
from flask import Flask

from bench.http import App, serve
from cardtrail.app import create_app
from ledger_service.auth import create_token
from ledger_service.config import Settings
from ledger_service.domain.numbers import generate_card_number
from ledger_service.runtime import DEFAULT_PUBLIC_CLIENT_CARD_LIMIT, runtime_of

# Well-formed numbers of cards never issued (the shared database is empty): answered 404.
UNKNOWN_CARD, OTHER_UNKNOWN_CARD = (
    f"/api/v1/public/cards/{generate_card_number()}" for _ in range(2)
)


def _two_apps(tmp_path, storage: str, **config: object) -> list[Flask]:
    """Two apps, each with its own data directory, on one database and one server secret."""
    secret = tmp_path / "secret.key"
    secret.write_text(secrets.token_hex(32))
    environ = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "CARDTRAIL_SECRET_KEY_FILE": str(secret),
        "CARDTRAIL_RATE_LIMIT_STORAGE": storage,
    }
    return [
        create_app(Settings.from_env(tmp_path / host, environ=environ), {"TESTING": True, **config})
        for host in ("host-a", "host-b")
    ]


def _alternating(apps: list[Flask], path: str, times: int, **headers: str) -> list[int]:
    """The statuses of ``times`` GETs of ``path``, sent to the apps in turn."""
    clients = cycle([app.test_client() for app in apps])
    return [next(clients).get(path, headers=headers).status_code for _ in range(times)]


PER_IP_ONLY = {"PUBLIC_RATE_LIMIT_PER_IP": (3, 60.0), "PUBLIC_RATE_LIMIT_PER_CLIENT_CARD": None}


@pytest.mark.redis
def test_two_apps_on_one_redis_refuse_the_client_past_one_shared_limit(tmp_path, redis_url):
    first, second = _two_apps(tmp_path, redis_url, **PER_IP_ONLY)
    assert _alternating([first, second], UNKNOWN_CARD, 3) == [404, 404, 404]
    refused = second.test_client().get(UNKNOWN_CARD)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["code"] == "RATE_LIMITED"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    elsewhere = {"REMOTE_ADDR": "192.0.2.9"}
    other_client = first.test_client().get(UNKNOWN_CARD, environ_base=elsewhere)
    assert other_client.status_code == 404, "another client keeps its own budget"


@pytest.mark.redis
def test_two_apps_on_one_redis_share_the_per_client_card_limit(tmp_path, redis_url):
    apps = _two_apps(
        tmp_path,
        redis_url,
        PUBLIC_RATE_LIMIT_PER_IP=None,
        PUBLIC_RATE_LIMIT_PER_CLIENT_CARD=(2, 60.0),
    )
    assert _alternating(apps, UNKNOWN_CARD, 3) == [404, 404, 429]
    assert _alternating(apps, OTHER_UNKNOWN_CARD, 1) == [404], "each card has its own budget"


@pytest.mark.redis
def test_two_apps_on_one_redis_share_each_api_tokens_limit(tmp_path, redis_url):
    apps = _two_apps(tmp_path, redis_url, API_RATE_LIMIT=(2, 60.0))
    built = runtime_of(apps[0])
    token = create_token(built.engine, built.secret_key, "hq").token
    auth = {"Authorization": f"Bearer {token}"}
    assert _alternating(apps, "/api/v1/stores", 3, **auth) == [200, 200, 429]


def test_two_apps_counting_in_memory_each_allow_the_whole_limit(tmp_path):
    apps = _two_apps(tmp_path, "memory://", **PER_IP_ONLY)
    assert _alternating(apps, UNKNOWN_CARD, 7) == [404] * 6 + [429]


def test_with_the_redis_store_down_the_pages_answer_and_each_app_still_limits(tmp_path, caplog):
    # Nothing listens on port 1: every attempt to reach the store is refused at once.
    apps = _two_apps(tmp_path, "redis://127.0.0.1:1/0", **PER_IP_ONLY)
    with caplog.at_level(logging.ERROR, logger="ledger_service.ratelimit"):
        statuses = _alternating(apps, UNKNOWN_CARD, 7)
    assert statuses == [404] * 6 + [429], "limited per process while the store is down"
    outages = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outages) == 2, "each app logs its outage once"


def _gunicorn_statuses(tmp_path, storage: str, path: str, times: int) -> list[int]:
    """The statuses of ``times`` GETs of ``path`` sent in turn to two gunicorn servers (one
    worker each) of the production entry point, on one database."""
    app = App("cardtrail.wsgi:app", env={"CARDTRAIL_RATE_LIMIT_STORAGE": storage})
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    with ExitStack() as stack:
        servers = [
            stack.enter_context(serve(app, tmp_path / host, database, workers=1, threads=1))
            for host in ("host-a", "host-b")
        ]
        statuses = []
        for index in range(times):
            url = servers[index % len(servers)].url + path
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as refused:
                statuses.append(refused.code)
        return statuses


@pytest.mark.redis
def test_two_gunicorn_servers_on_one_redis_enforce_the_documented_per_card_limit_once(
    tmp_path, redis_url
):
    limit, _ = DEFAULT_PUBLIC_CLIENT_CARD_LIMIT
    statuses = _gunicorn_statuses(tmp_path, redis_url, UNKNOWN_CARD, limit + 10)
    assert statuses == [404] * limit + [429] * 10


def test_two_gunicorn_servers_counting_in_memory_each_allow_the_whole_per_card_limit(tmp_path):
    limit, _ = DEFAULT_PUBLIC_CLIENT_CARD_LIMIT
    statuses = _gunicorn_statuses(tmp_path, "memory://", UNKNOWN_CARD, limit + 10)
    assert statuses == [404] * (limit + 10), "each server counted only its own half"
