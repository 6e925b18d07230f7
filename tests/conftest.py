"""Fixtures shared by the whole suite: databases, and the Node binary.

Every test that takes ``db_url`` runs twice: on a fresh SQLite file and on a fresh
PostgreSQL schema. PostgreSQL comes from CARDTRAIL_TEST_POSTGRES_URL (default: the local
server); when it cannot be reached the PostgreSQL half is skipped, unless
CARDTRAIL_REQUIRE_POSTGRES=1 (as in CI), which turns that into a failure.

Tests that run JavaScript take ``node_binary``: without Node they are skipped locally and
fail under CI (see node_requirement.py). Tests of shared rate limits take ``redis_url``,
which does the same without a Redis server.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from apptools import EnglishClient
from node_requirement import missing_node_outcome, running_under_ci

from anchoring.db import create_engine

POSTGRES_URL = os.environ.get(
    "CARDTRAIL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CARDTRAIL_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
# Databases 1..15 of the test server, one per test in turn; 0 is left to other uses.
_REDIS_DBS = itertools.cycle(range(1, 16))


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("CARDTRAIL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def node_binary() -> str:
    """The path of ``node``; skips the test without it, or fails it under CI."""
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed (the JavaScript verifiers run under Node)"
        if missing_node_outcome(os.environ) == "fail":
            pytest.fail(f"{reason}; CI requires it")
        pytest.skip(reason)
    return node


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a Redis database for this test alone, emptied before and after it.

    Without a Redis server the test is skipped, or fails under CI.
    """
    import redis

    url = f"{REDIS_URL}/{next(_REDIS_DBS)}"
    server = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        server.flushdb()
    except redis.RedisError as exc:
        server.close()
        reason = f"Redis is not reachable at {REDIS_URL} ({exc})"
        if running_under_ci(os.environ):
            pytest.fail(f"{reason}; CI requires it")
        pytest.skip(reason)
    try:
        yield url
    finally:
        server.flushdb()
        server.close()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'cardtrail.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _postgres_unavailable(str(exc).splitlines()[0])
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """A fresh database URL: SQLite, then PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def engine(db_url) -> Iterator[sa.Engine]:
    """An engine on a fresh, empty database (no tables: each package creates its own)."""
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path, db_url):
    """Settings for a fresh deployment: its own data directory and a fresh database."""
    from ledger_service.config import Settings

    return Settings.from_env(tmp_path / "data", environ={"DATABASE_URL": db_url})


@pytest.fixture
def app(settings):
    """A CardTrail app on a fresh database (SQLite, then PostgreSQL)."""
    from cardtrail.app import create_app

    application = create_app(settings, {"TESTING": True})
    # The suite's page tests read English; the Chinese default has its own tests
    # (tests/portal/test_i18n.py), which ask for their language explicitly.
    application.test_client_class = EnglishClient
    yield application
    application.extensions["cardtrail"].engine.dispose()


@pytest.fixture
def client(app):
    """A test client of :func:`app`."""
    return app.test_client()


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """Run with umask 022, the usual default, under which a plain mkdir gives 0755 and
    files 0644 unless their mode is set: the permission tests must not depend on the
    environment's umask."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
