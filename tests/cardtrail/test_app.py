"""The application factory: one app, its services built once from the settings."""

from __future__ import annotations

import pytest

from cardtrail.app import create_app
from ledger_service.runtime import RateLimits, install, runtime_of


def test_the_factory_builds_a_testing_app_only_when_asked(settings):
    assert not create_app(settings).testing
    assert create_app(settings, {"TESTING": True}).testing


def test_every_request_reads_the_same_services(app):
    built = runtime_of(app)
    with app.test_request_context("/"):
        from ledger_service.runtime import ledger, runtime

        assert runtime() is built and ledger() is built.ledger


def test_rate_limits_come_from_the_config_once(settings):
    app = create_app(settings, {"API_RATE_LIMIT": (3, 60.0), "PUBLIC_RATE_LIMIT_PER_IP": None})
    limits = runtime_of(app).limits
    assert limits.api_per_token is not None and limits.api_per_token.limit == 3
    assert limits.public_per_ip is None


def test_an_app_is_assembled_only_once(app):
    with pytest.raises(RuntimeError, match="already"):
        install(app, runtime_of(app))
    assert isinstance(runtime_of(app).limits, RateLimits)


def test_the_factory_migrates_a_new_database(app, client):
    assert client.get("/api/v1/chain").status_code in (200, 503)
    assert client.get("/api/v1/stores").status_code == 401
