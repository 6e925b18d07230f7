"""Group commit: concurrent units of work share one transaction and one commit, each under
its own savepoint; a failure of one unit touches no other, a failing commit fails them all,
and the log grows without gaps (SQLite and PostgreSQL).

Groups here close when full (``limit`` units, a window far longer than the test), so which
units share a commit never depends on timing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from ledger_helpers import HQ, STORE1
from sqlalchemy import event

from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.log import MerkleLog
from ledger_service import db, errors
from ledger_service.schema import code_failures, events
from ledger_service.service import Ledger
from ledger_service.service.sequencer import GroupCommitFailed, Sequencer

LONG = 60.0  # seconds: a window no group waits out, since each closes when full


@pytest.fixture
def table(tmp_path):
    """A SQLite file with a table ``t (x)``."""
    engine = create_engine(f"sqlite:///{tmp_path / 'seq.db'}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("create table t (x integer)")
    yield engine
    engine.dispose()


def commits_of(engine) -> list[int]:
    """A list that gets one entry per committed write transaction on ``engine``."""
    seen: list[int] = []

    def on_commit(conn):
        if conn.get_execution_options().get("cardtrail_write"):
            seen.append(1)

    event.listen(engine, "commit", on_commit)
    return seen


def together(count: int, work: Callable[[int], object]) -> dict[int, object]:
    """Run ``work(k)`` for k < ``count`` in threads released at once: result or exception."""
    start = threading.Barrier(count)
    outcomes: dict[int, object] = {}
    lock = threading.Lock()

    def run(k: int) -> None:
        start.wait()
        try:
            outcome = work(k)
        except Exception as exc:  # noqa: BLE001 — the test looks at every outcome
            outcome = exc
        with lock:
            outcomes[k] = outcome

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def stored(engine) -> list[int]:
    with read_transaction(engine) as conn:
        return sorted(conn.exec_driver_sql("select x from t").scalars())


def insert(sequencer: Sequencer, x: int) -> int:
    with sequencer.unit() as conn:
        conn.exec_driver_sql(f"insert into t values ({x})")
    return x


def test_units_arriving_together_share_one_commit(table):
    sequencer = Sequencer(lambda: write_transaction(table), LONG, limit=8)
    commits = commits_of(table)

    outcomes = together(8, lambda k: insert(sequencer, k))

    assert outcomes == {k: k for k in range(8)}
    assert stored(table) == list(range(8))
    assert len(commits) == 1


def test_a_unit_takes_one_savepoint_and_leaves_it_to_the_commit(table):
    sequencer = Sequencer(lambda: write_transaction(table), LONG, limit=8)
    savepoints: list[str] = []
    event.listen(table, "savepoint", lambda _conn, name: savepoints.append("begin"))
    event.listen(table, "release_savepoint", lambda *_args: savepoints.append("release"))

    outcomes = together(8, lambda k: insert(sequencer, k))

    assert outcomes == {k: k for k in range(8)}
    assert savepoints == ["begin"] * 8, "a release would cost a round trip per unit"
    assert stored(table) == list(range(8))


def test_a_failing_unit_after_others_left_their_savepoints_open_undoes_only_itself(table):
    sequencer = Sequencer(lambda: write_transaction(table), LONG, limit=3)
    inserted = {0: threading.Event(), 2: threading.Event()}

    def unit(k: int) -> int:
        if k == 1:  # joins last: its savepoint begins inside the two left open
            assert all(done.wait(10) for done in inserted.values())
        with sequencer.unit() as conn:
            conn.exec_driver_sql(f"insert into t values ({k})")
            if k == 1:
                raise ValueError("unit 1 fails")
            inserted[k].set()
        return k

    outcomes = together(3, unit)

    assert isinstance(outcomes.pop(1), ValueError)
    assert outcomes == {0: 0, 2: 2}
    assert stored(table) == [0, 2]


def test_a_full_group_closes_and_the_next_units_form_another(table):
    sequencer = Sequencer(lambda: write_transaction(table), LONG, limit=4)
    commits = commits_of(table)

    together(8, lambda k: insert(sequencer, k))

    assert stored(table) == list(range(8))
    assert len(commits) == 2


def test_a_unit_alone_commits_once_its_window_has_passed(table):
    sequencer = Sequencer(lambda: write_transaction(table), 0.001)
    commits = commits_of(table)

    assert insert(sequencer, 7) == 7

    assert stored(table) == [7] and len(commits) == 1


def test_a_failing_unit_is_rolled_back_alone_and_the_others_commit(table):
    sequencer = Sequencer(lambda: write_transaction(table), LONG, limit=6)
    commits = commits_of(table)

    def work(k: int) -> int:
        with sequencer.unit() as conn:
            conn.exec_driver_sql(f"insert into t values ({k})")
            if k == 3:
                raise ValueError("refused after writing")
        return k

    outcomes = together(6, work)

    assert isinstance(outcomes.pop(3), ValueError)
    assert outcomes == {k: k for k in (0, 1, 2, 4, 5)}
    assert stored(table) == [0, 1, 2, 4, 5]
    assert len(commits) == 1


@contextmanager
def failing_commit(engine) -> Iterator[sa.Connection]:
    """A write transaction whose commit fails (as a full disk would): rolled back."""
    with write_transaction(engine) as conn:
        yield conn
        raise OSError("disk full")


def test_a_failing_commit_fails_every_unit_of_the_group_and_keeps_nothing(table):
    sequencer = Sequencer(lambda: failing_commit(table), LONG, limit=5)

    outcomes = together(5, lambda k: insert(sequencer, k))

    leader = [o for o in outcomes.values() if isinstance(o, OSError)]
    members = [o for o in outcomes.values() if isinstance(o, GroupCommitFailed)]
    assert len(leader) == 1 and len(members) == 4
    assert all(isinstance(m.__cause__, OSError) for m in members)
    assert stored(table) == []


def test_a_transaction_that_cannot_begin_fails_every_unit(table):
    gate = threading.Event()

    @contextmanager
    def unreachable() -> Iterator[sa.Connection]:
        gate.wait()  # until every unit has joined the group
        raise OSError("database unreachable")
        yield  # never: a generator, as a context manager must be

    sequencer = Sequencer(unreachable, LONG, limit=3)
    units = threading.Thread(target=lambda: outcomes.update(together(3, work)))
    outcomes: dict[int, object] = {}

    def work(k: int) -> int:
        return insert(sequencer, k)

    units.start()
    while sequencer._forming is None or sequencer._forming.joined < 3:
        time.sleep(0.001)
    gate.set()
    units.join()

    assert sorted(type(o).__name__ for o in outcomes.values()) == [
        "GroupCommitFailed",
        "GroupCommitFailed",
        "OSError",
    ]


def test_a_unit_of_work_cannot_open_another_in_its_thread(table):
    sequencer = Sequencer(lambda: write_transaction(table), 0.001)

    with pytest.raises(RuntimeError, match="cannot open another"), sequencer.unit():
        with sequencer.unit():
            pass

    assert insert(sequencer, 1) == 1  # the thread is free again


def test_the_window_and_the_limit_must_make_sense(table):
    with pytest.raises(ValueError):
        Sequencer(lambda: write_transaction(table), -1)
    with pytest.raises(ValueError):
        Sequencer(lambda: write_transaction(table), 0.001, limit=0)


# --- the Ledger with group commit (SQLite and PostgreSQL) ------------------------------------

REDEEMS = 24


@pytest.fixture
def grouped(db_url):
    """A Ledger with group commit whose groups close at ``REDEEMS`` units, and the
    (number, code) of ``REDEEMS`` issued cards."""
    if db_url.startswith("sqlite"):
        engine = create_engine(db_url)
    else:
        engine = create_engine(db_url, pool_size=5, max_overflow=5, pool_timeout=120)
    db.upgrade(engine)
    ledger = Ledger(engine, secrets.token_bytes(32), group_commit_ms=1)
    ledger.create_store(HQ, "S1", "Flagship", "north")
    issued = ledger.issue_cards(HQ, "B1", [{"product": "Tea"}] * REDEEMS, active=True)["cards"]
    ledger._sequencer = Sequencer(ledger._head_transaction, LONG, limit=REDEEMS)
    yield ledger, [(c["card_number"], c["redemption_code"]) for c in issued]
    engine.dispose()


def _log(ledger: Ledger) -> tuple[int, list[int], object]:
    with read_transaction(ledger._engine) as conn:
        log = MerkleLog(conn)
        leaves = conn.execute(sa.select(events.c.leaf_index).order_by(events.c.leaf_index))
        return log.size(), list(leaves.scalars()), log.audit()


def test_concurrent_redeems_share_a_commit_and_the_log_has_no_gap(grouped):
    ledger, cards = grouped
    size_before, _, _ = _log(ledger)
    commits = commits_of(ledger._engine)

    outcomes = together(REDEEMS, lambda k: ledger.redeem(STORE1, *cards[k]))

    assert len(commits) == 1
    answers = list(outcomes.values())
    assert all(a["state"] == "REDEEMED" for a in answers), answers
    indices = sorted(a["leaf_index"] for a in answers)
    assert indices == list(range(size_before, size_before + REDEEMS))
    size, leaves, divergence = _log(ledger)
    assert size == size_before + REDEEMS
    assert leaves == list(range(size)) and divergence is None


def test_a_refused_redeem_in_a_group_keeps_its_trace_and_spoils_no_other(grouped):
    ledger, cards = grouped
    size_before, _, _ = _log(ledger)
    wrong = 5
    number, code = cards[wrong]
    cards[wrong] = (number, "2222-2222-2222" if code != "2222-2222-2222" else "3333-3333-3333")
    commits = commits_of(ledger._engine)

    outcomes = together(REDEEMS, lambda k: ledger.redeem(STORE1, *cards[k]))

    assert len(commits) == 1
    refusal = outcomes.pop(wrong)
    assert isinstance(refusal, errors.InvalidCode)
    assert all(a["state"] == "REDEEMED" for a in outcomes.values()), outcomes
    size, leaves, divergence = _log(ledger)
    assert size == size_before + REDEEMS - 1
    assert leaves == list(range(size)) and divergence is None
    with read_transaction(ledger._engine) as conn:
        failures = conn.execute(
            sa.select(sa.func.count()).where(code_failures.c.card_number == number)
        ).scalar_one()
    assert failures == 1


def test_a_failing_group_commit_acknowledges_no_redeem(grouped):
    ledger, cards = grouped
    size_before, _, _ = _log(ledger)

    @contextmanager
    def failing_head() -> Iterator[sa.Connection]:
        with failing_commit(ledger._engine) as conn:
            MerkleLog(conn).lock_head()
            yield conn

    ledger._sequencer = Sequencer(failing_head, LONG, limit=REDEEMS)

    outcomes = together(REDEEMS, lambda k: ledger.redeem(STORE1, *cards[k]))

    assert all(isinstance(o, OSError | GroupCommitFailed) for o in outcomes.values()), outcomes
    size, leaves, _ = _log(ledger)
    assert size == size_before and len(leaves) == size_before


@pytest.mark.parametrize(
    "failure",
    [errors.CardVoided("refused after its event was logged"), RuntimeError("a crash")],
    ids=["refusal", "error"],
)
def test_a_redeem_failing_after_logging_takes_its_leaf_back_and_leaves_no_gap(
    grouped, monkeypatch, failure
):
    # The group holds its leaves until the commit: the failing redeem's leaf must go with
    # its savepoint, and the next redeem take its index.
    ledger, cards = grouped
    size_before, _, _ = _log(ledger)
    failing = cards[7][0]
    from ledger_service.service import card_commands

    real = card_commands.note_burst
    mine = threading.local()

    def burst(*args):
        if mine.number == failing:
            raise failure
        real(*args)

    monkeypatch.setattr(card_commands, "note_burst", burst)

    def redeem(k: int) -> object:
        mine.number = cards[k][0]
        return ledger.redeem(STORE1, *cards[k])

    outcomes = together(REDEEMS, redeem)

    raised = outcomes.pop(7)
    # A refusal after the first write is a bug the redeem fails whole on (transaction.writing).
    assert raised is failure or (isinstance(raised, RuntimeError) and raised.__cause__ is failure)
    indices = sorted(a["leaf_index"] for a in outcomes.values())
    assert indices == list(range(size_before, size_before + REDEEMS - 1))
    size, leaves, divergence = _log(ledger)
    assert size == size_before + REDEEMS - 1
    assert leaves == list(range(size)) and divergence is None
