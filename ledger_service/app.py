"""The Flask application factory.

    >>> from ledger_service.app import create_app
    >>> from ledger_service.config import Settings
    >>> app = create_app(Settings.from_env("/tmp/ct-doc-app", environ={}))
    >>> app.name
    'cardtrail'
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from anchoring.db import create_engine
from ledger_service import db, problems
from ledger_service.config import Settings


@dataclass(frozen=True)
class Runtime:
    """What every request handler needs: the settings and the database engine."""

    settings: Settings
    engine: Engine
    secret_key: bytes


def runtime() -> Runtime:
    """The :class:`Runtime` of the current Flask application."""
    return current_app.extensions["cardtrail"]


def create_app(settings: Settings | None = None, test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the CardTrail web application: merchant API, public portal and console.

    The database is migrated to the newest schema on start, so a new data directory
    works at once.
    """
    settings = settings or Settings.from_env()
    secret = settings.secret_key()
    app = Flask("cardtrail")
    app.config.from_mapping(
        # Flask's session key is derived, so one secret file serves every purpose.
        SECRET_KEY=hmac.new(secret, b"flask-session", hashlib.sha256).hexdigest(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    if test_config:
        app.config.update(test_config)
    engine = create_engine(settings.database_url)
    db.upgrade(engine)
    app.extensions["cardtrail"] = Runtime(settings=settings, engine=engine, secret_key=secret)
    _register_blueprints(app)
    problems.register(app)
    return app


def _register_blueprints(app: Flask) -> None:
    # Imported here so that importing the factory stays cheap for the CLI.
    from ledger_service import api, devices_api
    from portal import auditor, console, public, security

    for blueprint in (api.bp, devices_api.bp, public.bp, auditor.bp, console.bp):
        app.register_blueprint(blueprint)
    security.init_app(app)
