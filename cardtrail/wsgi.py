"""The WSGI entry point for gunicorn (docs/production.md)::

    gunicorn --workers 4 --bind 127.0.0.1:8000 'cardtrail.wsgi:app'

Settings come from the environment (CARDTRAIL_DATA_DIR, DATABASE_URL, CHAIN_RPC_URL,
CARDTRAIL_PUBLIC_BASE_URL, …). Behind a reverse proxy that terminates TLS, set
CARDTRAIL_PROXY_HOPS to the number of proxies in front, so that rate limits count the
visitor's address (X-Forwarded-For) and HSTS is sent over HTTPS (X-Forwarded-Proto).
Without it the forwarded headers are ignored: trusting them from a client that talks to
gunicorn directly would let anyone pick the address the per-client limits count.
X-Forwarded-Host is never trusted: links and QR codes come from CARDTRAIL_PUBLIC_BASE_URL,
and a request naming another host than its own is refused (400).

Each gunicorn worker builds its own app (and its own database engine). The first start of
a fresh deployment migrates the database; the workers take turns at that (a lock file in
the data directory), since concurrent migrations trip over each other.

    >>> from cardtrail.wsgi import proxy_hops
    >>> proxy_hops({}), proxy_hops({"CARDTRAIL_PROXY_HOPS": "1"})
    (0, 1)
"""

from __future__ import annotations

import fcntl
import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from cardtrail.app import create_app
from ledger_service.config import ConfigError, Settings

PROXY_HOPS = "CARDTRAIL_PROXY_HOPS"


def proxy_hops(environ: Mapping[str, str]) -> int:
    """How many reverse proxies in front set X-Forwarded-* (CARDTRAIL_PROXY_HOPS, default 0)."""
    raw = environ.get(PROXY_HOPS, "").strip() or "0"
    if not raw.isdigit():
        raise ConfigError(f"{PROXY_HOPS} must be a whole number of proxies, got {raw!r}")
    return int(raw)


@contextmanager
def _one_at_a_time(lock_file: Path) -> Iterator[None]:
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def build_app(environ: Mapping[str, str] | None = None) -> Flask:
    """The application configured from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    settings = Settings.from_env(environ=env)
    with _one_at_a_time(settings.prepare_data_dir() / "migrate.lock"):
        application = create_app(settings)
    hops = proxy_hops(env)
    if hops:
        wrapped: Any = ProxyFix(application.wsgi_app, x_for=hops, x_proto=hops)
        # Flask's documented way to wrap the app in middleware; mypy sees a method assigned.
        application.wsgi_app = wrapped  # type: ignore[method-assign]
    return application


app = build_app()
# What the app built (routes, templates, schemas, table metadata) lives as long as the
# worker; frozen, it is no longer rescanned by every full collection, which a request's
# many short-lived objects keep setting off (measured: a 1,000-card issuance request fell
# from 55 to 47 µs of CPU per card).
gc.freeze()
