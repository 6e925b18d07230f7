"""The Flask application factory: the one place where a CardTrail app is put together.

    >>> import tempfile
    >>> from cardtrail.app import create_app
    >>> from ledger_service.config import Settings
    >>> app = create_app(Settings.from_env(tempfile.mkdtemp(), environ={}))
    >>> app.name
    'cardtrail'

Everything a request needs (settings, engine, the configured :class:`Ledger`, the
idempotency store and the rate limiters) is built here, once, into a
:class:`~ledger_service.runtime.Runtime`; the blueprints of ``ledger_service`` and
``portal`` only read it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from flask import Flask

from anchoring.db import create_engine
from ledger_service import api, customer_api, db, devices_api, problems
from ledger_service.config import Settings
from ledger_service.idempotency import IdempotencyStore
from ledger_service.ratelimit import CounterStore
from ledger_service.runtime import RateLimits, Runtime, install
from ledger_service.service import Ledger
from portal import (
    auditor,
    console,
    console_money,  # noqa: F401 (adds the money actions to the console's card page)
    console_stores,  # noqa: F401 (adds the stores and stock pages to the console)
    cors,
    customer,
    i18n,
    issuer_descriptor,
    lookups,
    public,
    security,
)


def build_runtime(settings: Settings, config: Mapping[str, Any]) -> Runtime:
    """The services of one app: a migrated engine, and everything configured from settings."""
    secret = settings.secret_key()
    engine = create_engine(settings.database_url)
    db.upgrade(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        secret_key=secret,
        ledger=Ledger(
            engine,
            secret,
            require_signatures=settings.require_store_signatures,
            group_commit_ms=settings.group_commit_ms,
        ),
        idempotency=IdempotencyStore(engine, secret),
        limits=RateLimits.from_config(config, CounterStore.from_uri(settings.rate_limit_storage)),
    )


def create_app(
    settings: Settings | None = None, test_config: Mapping[str, Any] | None = None
) -> Flask:
    """Build the CardTrail web application: merchant API, public portal and console.

    The database is migrated to the newest schema on start, so a new data directory
    works at once. ``test_config`` overrides Flask and rate-limit settings (e.g.
    ``API_RATE_LIMIT``, ``PUBLIC_RATE_LIMIT_PER_IP``: ``None`` switches a limit off).
    """
    settings = settings or Settings.from_env()
    app = Flask("cardtrail")
    app.config.from_mapping(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Production is served over TLS (docs/production.md); the dev server is plain HTTP.
        SESSION_COOKIE_SECURE=not settings.dev_mode,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    if test_config:
        app.config.update(test_config)
    built = build_runtime(settings, app.config)
    if not app.config["SECRET_KEY"]:
        # Flask's session key is derived, so one secret file serves every purpose.
        digest = hmac.new(built.secret_key, b"flask-session", hashlib.sha256)
        app.config["SECRET_KEY"] = digest.hexdigest()
    install(app, built)
    # Chinese first: every page, console refusal and problem title goes through it.
    i18n.init_app(app)
    blueprints = (
        api.bp,
        devices_api.bp,
        customer_api.bp,
        public.bp,
        customer.bp,
        lookups.bp,
        auditor.bp,
        console.bp,
        issuer_descriptor.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    security.init_app(app)
    cors.init_app(app)
    issuer_descriptor.init_app(app)
    problems.register(app)
    return app
