"""SQLite engines: writers wait their turn in a queue, and the files are the owner's alone."""

from __future__ import annotations

import logging
import stat
import threading

import pytest
import sqlalchemy as sa

from anchoring.db import create_engine, read_transaction, single_read, write_transaction


def test_sqlite_writers_take_turns_and_all_commit(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("create table n (v integer)")
    first_inside, release = threading.Event(), threading.Event()
    second_inside = threading.Event()

    def first():
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("insert into n values (1)")
            first_inside.set()
            release.wait(10)

    def second():
        with write_transaction(engine) as conn:
            second_inside.set()
            conn.exec_driver_sql("insert into n values (2)")

    a = threading.Thread(target=first)
    a.start()
    assert first_inside.wait(10)
    b = threading.Thread(target=second)
    b.start()
    assert not second_inside.wait(0.3), "a second writer got in while the first held its turn"
    release.set()
    a.join(10)
    b.join(10)
    assert second_inside.is_set()
    with read_transaction(engine) as conn:
        assert sorted(v for (v,) in conn.exec_driver_sql("select v from n")) == [1, 2]
    engine.dispose()


def test_the_turn_is_kept_beside_the_database_file(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'side.db'}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("select 1")
    assert (tmp_path / "side.db-writer").exists()
    engine.dispose()


# --- file modes --------------------------------------------------------------------------


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_and_shm_files_are_0600(tmp_path, usual_umask):
    path = tmp_path / "private.db"
    engine = create_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("create table n (v integer)")
        conn.exec_driver_sql("insert into n values (1)")
    wal, shm = tmp_path / "private.db-wal", tmp_path / "private.db-shm"
    assert wal.stat().st_size > 0, "the write should still be in the WAL"
    assert {p.name: _mode(p) for p in (path, wal, shm)} == {
        "private.db": 0o600,
        "private.db-wal": 0o600,
        "private.db-shm": 0o600,
    }
    engine.dispose()


def test_database_files_left_0644_by_an_older_version_are_tightened_on_connect(
    tmp_path, usual_umask, caplog
):
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("create table n (v integer)")
    engine.dispose()
    leftovers = [path, tmp_path / "old.db-wal", tmp_path / "old.db-shm"]
    for leftover in leftovers:
        leftover.touch()
        leftover.chmod(0o644)
    engine = create_engine(f"sqlite:///{path}")
    with (
        caplog.at_level(logging.WARNING, logger="cardtrail.anchoring"),
        read_transaction(engine) as conn,
    ):
        assert conn.exec_driver_sql("select count(*) from n").scalar() == 0
    assert [_mode(p) for p in leftovers] == [0o600, 0o600, 0o600]
    assert f"tightened the permissions of {path} from 0644 to 0600" in caplog.text
    engine.dispose()


def test_a_database_in_a_missing_directory_still_fails_as_sqlite_says(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'absent' / 'x.db'}")
    with pytest.raises(sa.exc.OperationalError, match="unable to open database file"):
        engine.connect()
    engine.dispose()


def test_a_single_read_sends_no_begin_and_leaves_transactions_intact(engine):
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("create table single (x int)")
        conn.exec_driver_sql("insert into single values (1)")
    sent: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        sent.append(statement.split()[0].upper())

    sa.event.listen(engine, "before_cursor_execute", note)
    with single_read(engine) as conn:
        assert conn.exec_driver_sql("select count(*) from single").scalar() == 1
    assert sent == ["SELECT"]

    # The pooled connection goes back to real transactions: a rolled-back write is undone.
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        conn.exec_driver_sql("insert into single values (2)")
        raise RuntimeError("roll it back")
    with read_transaction(engine) as conn:
        assert conn.exec_driver_sql("select count(*) from single").scalar() == 1


# --- the pool ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_pooled_connection_cut_while_idle_is_replaced_before_use(postgres_url, monkeypatch):
    engine = create_engine(postgres_url)
    with single_read(engine) as conn:
        backend = conn.exec_driver_sql("select pg_backend_pid()").scalar()
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"select pg_terminate_backend({backend})")
    admin.dispose()
    monkeypatch.setattr("anchoring.db.PING_AFTER_IDLE", 0.0)
    with single_read(engine) as conn:
        assert conn.exec_driver_sql("select pg_backend_pid()").scalar() != backend
    engine.dispose()


@pytest.mark.postgres
def test_a_connection_in_steady_use_is_not_pinged(postgres_url):
    engine = create_engine(postgres_url)
    pings = []
    original = engine.dialect.do_ping
    engine.dialect.do_ping = lambda dbapi_conn: pings.append(1) or original(dbapi_conn)  # type: ignore[method-assign]
    for _ in range(3):
        with single_read(engine) as conn:
            conn.exec_driver_sql("select 1")
    assert pings == []
    engine.dispose()


def test_a_sqlite_file_pool_keeps_a_connection_per_thread_of_a_web_process(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    assert engine.pool.size() >= 16
    engine.dispose()
