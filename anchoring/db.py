"""Database engines: SQLite (the embedded default, WAL) and PostgreSQL (psycopg 3).

Writers take the log's head row lock, so all writes are serialised. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` so that two writers never both read and then
both try to upgrade their lock (which would fail one of them with "database is locked").

A SQLite database file is created 0600 before SQLite opens it, and SQLite gives the
``-wal``, ``-shm`` and ``-journal`` files it creates later the database file's mode; files
an older version left readable by other users are tightened when a connection opens.

    >>> from anchoring.db import create_engine, write_transaction
    >>> engine = create_engine("sqlite:///:memory:")
    >>> with write_transaction(engine) as conn:
    ...     _ = conn.exec_driver_sql("select 1")
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from anchoring.permissions import PRIVATE_FILE_MODE, tighten

_WRITE = "cardtrail_write"
_SINGLE = "cardtrail_single_read"
_IDLE_SINCE = "cardtrail_idle_since"

POOL_SIZE = 20
"""Connections a pool keeps open. SQLAlchemy's default of 5 (and 10 more it closes again
on their return) was fewer than the threads of one web process: under load every request
opened and closed a connection (on PostgreSQL a new server process, the most CPU of a
redeem). A request holds one connection at a time."""
POOL_OVERFLOW = 10
"""Connections a pool opens beyond :data:`POOL_SIZE` under a burst, closed on return."""
PING_AFTER_IDLE = 5.0
"""Seconds a pooled PostgreSQL connection may sit unused before it is tested on checkout."""


def create_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine for ``url`` with CardTrail's connection settings (``kwargs`` win)."""
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, **{**_pool_settings(kwargs), **kwargs})
        _ping_when_idle(engine)
        return engine
    pooled = _file_path(sa.engine.make_url(url).database) is not None
    settings = _pool_settings(kwargs) if pooled else {}
    engine = sa.create_engine(url, connect_args={"timeout": 60}, **{**settings, **kwargs})
    path = _database_file(engine)
    if path is not None:

        @event.listens_for(engine, "do_connect")
        def _before_connect(*_args: object) -> None:
            _private_database_files(path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Leave transaction control to the "begin" hook below (pysqlite's own is lazy).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged event survives a power cut, not just a process crash.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_SINGLE):
            return  # single_read: the statement is its own transaction
        mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _pool_settings(kwargs: dict[str, object]) -> dict[str, object]:
    """Pool sizes for a queue pool; none when the caller chose another pool class."""
    return {} if "poolclass" in kwargs else {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}


def _ping_when_idle(engine: Engine) -> None:
    """Test a connection on checkout only when it sat unused for :data:`PING_AFTER_IDLE`.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout, two per API
    request. A connection in steady use has just answered; one that idled may have been
    cut (a server restart, a firewall's timeout), and is replaced before anyone uses it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: object, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(
        dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object
    ) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out another (a fresh one).
            raise sa.exc.DisconnectionError("a pooled connection no longer answers") from exc


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any error."""
    with (
        _writer_turn(engine),
        engine.connect().execution_options(**{_WRITE: True}) as conn,
        conn.begin(),
    ):
        yield conn


_turns: weakref.WeakKeyDictionary[Engine, tuple[int, threading.RLock, int]] = (
    weakref.WeakKeyDictionary()
)
_turns_guard = threading.Lock()


@contextmanager
def _writer_turn(engine: Engine) -> Iterator[None]:
    """On a SQLite file, wait for the write lock in a queue instead of SQLite's busy loop.

    A writer that finds the database locked sleeps in SQLite's busy handler for up to
    100 ms at a time, so a lock freed a moment later stays idle while writers sleep.
    Waiting on a thread lock (this process) and an ``flock`` beside the database (other
    processes) wakes the next writer as soon as the previous one commits. Only the order
    of waiting changes: ``BEGIN IMMEDIATE`` still takes SQLite's own lock.
    """
    path = _database_file(engine)
    if path is None:
        yield
        return
    with _turns_guard:
        turn = _turns.get(engine)
        if turn is None or turn[0] != os.getpid():  # a forked child needs its own lock
            fd = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(engine, os.close, fd)
            turn = _turns[engine] = (os.getpid(), threading.RLock(), fd)
    _, lock, fd = turn
    with lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _database_file(engine: Engine) -> str | None:
    """The path of the engine's SQLite file; None for PostgreSQL, memory and URI databases."""
    return _file_path(engine.url.database) if engine.dialect.name == "sqlite" else None


def _file_path(database: str | None) -> str | None:
    """A SQLite URL's database part when it names a file (not memory, not a URI)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _private_database_files(path: str) -> None:
    """Create the SQLite file ``path`` 0600 if it is missing, else tighten it and its companions.

    An empty file is a valid empty database. SQLite creates ``-wal``, ``-shm`` and
    ``-journal`` with the mode of the database file, so they follow once it is 0600; those
    an older version left behind with a looser mode are tightened here (and logged).
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        for suffix in ("", "-wal", "-shm", "-journal"):
            tighten(Path(path + suffix))
    except FileNotFoundError:
        pass  # its directory is missing: SQLite reports that, as it always did


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot, never blocks writers."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for ONE read statement, outside any explicit transaction.

    A single statement is consistent on its own, so the BEGIN and COMMIT a transaction
    adds are two round trips (PostgreSQL) or two statements (SQLite) for nothing; the
    token check of every API request runs here. Use :func:`read_transaction` for more.
    """
    # pysqlite already runs outside transactions unless told BEGIN (see _on_begin); its
    # AUTOCOMMIT level would, on the connection's return to the pool, hand transactions
    # back to the driver's own implicit ones.
    options = (
        {_SINGLE: True} if engine.dialect.name == "sqlite" else {"isolation_level": "AUTOCOMMIT"}
    )
    with engine.connect().execution_options(**options) as conn:
        yield conn


def is_postgres(conn_or_engine: Connection | Engine) -> bool:
    """True when the connection or engine talks to PostgreSQL."""
    return conn_or_engine.dialect.name == "postgresql"
