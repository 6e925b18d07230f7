"""Write transactions on SQLite wait their turn in a queue, not in SQLite's busy loop."""

from __future__ import annotations

import threading

from anchoring.db import create_engine, read_transaction, write_transaction


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
