"""The one transaction runner: every command joins the caller's unit of work or runs in one
of its own; a refusal leaves only its traces, an accepted command exactly its events."""

from __future__ import annotations

import pytest
from ledger_helpers import HQ, STORE1, issue, log_size, rows
from sqlalchemy import event

from ledger_service import errors
from ledger_service.schema import (
    anomalies,
    cards,
    code_failures,
    events,
    gift_offers,
    pickups,
    stores,
)
from ledger_service.service import card_commands


@pytest.fixture
def write_commits(ledger):
    """A list that gets one entry per committed write transaction from now on."""
    commits: list[int] = []

    def on_commit(conn):
        if conn.get_execution_options().get("cardtrail_write"):
            commits.append(1)

    event.listen(ledger._engine, "commit", on_commit)
    yield commits
    event.remove(ledger._engine, "commit", on_commit)


def _state(ledger, number: str) -> str:
    return rows(ledger, cards, cards.c.number == number)[0].state


def test_an_accepted_command_of_its_own_is_one_commit(ledger, stores, write_commits):
    number, code = issue(ledger)
    write_commits.clear()
    ledger.redeem(STORE1, number, code)
    assert len(write_commits) == 1


def test_a_refusal_of_its_own_commits_its_traces_once_and_nothing_in_the_log(
    ledger, stores, write_commits
):
    number, _ = issue(ledger)
    size = log_size(ledger)
    write_commits.clear()
    with pytest.raises(errors.InvalidCode) as refused:
        ledger.redeem(STORE1, number, "WRONG")
    assert refused.value.extra["attempts_left"] == 4
    assert len(write_commits) == 1
    assert [r.outcome for r in rows(ledger, code_failures)] == ["wrong"]
    assert log_size(ledger) == size
    assert _state(ledger, number) == "ISSUED"


def test_within_a_unit_of_work_a_refusal_undoes_only_itself(ledger, stores, write_commits):
    first, first_code = issue(ledger)
    second, _ = issue(ledger)
    size = log_size(ledger)
    write_commits.clear()
    with ledger.unit_of_work() as conn:
        ledger.redeem(STORE1, first, first_code, within=conn)
        with pytest.raises(errors.InvalidCode):
            ledger.redeem(STORE1, second, "WRONG", within=conn)
        assert log_size(ledger) == size, "nothing is visible before the unit of work commits"
    assert len(write_commits) == 1
    assert log_size(ledger) == size + 1
    assert (_state(ledger, first), _state(ledger, second)) == ("REDEEMED", "ISSUED")
    assert [r.card_number for r in rows(ledger, code_failures)] == [second]


def test_a_refusal_within_a_unit_of_work_keeps_its_anomaly(ledger, stores):
    number, code = issue(ledger, allowed_stores=["S1"])
    with ledger.unit_of_work() as conn, pytest.raises(errors.StoreNotAllowed):
        ledger.redeem(HQ, number, code, store_id="S3", within=conn)
    assert [(a.kind, a.card_number) for a in rows(ledger, anomalies)] == [
        ("other_store_attempt", number)
    ]


def test_a_failure_inside_a_command_leaves_nothing_of_it(ledger, stores, monkeypatch):
    number, code = issue(ledger)
    size = log_size(ledger)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(card_commands, "note_burst", broken)
    with pytest.raises(RuntimeError):
        ledger.redeem(STORE1, number, code)
    assert log_size(ledger) == size
    assert _state(ledger, number) == "ISSUED"
    assert rows(ledger, code_failures) == []


def test_a_refusal_after_a_redeem_began_to_write_keeps_nothing_of_it(ledger, stores, monkeypatch):
    # A redeem runs without a savepoint of its own: a refusal must come before its writes.
    number, code = issue(ledger)
    size = log_size(ledger)

    def late(*args, **kwargs):
        raise errors.CardVoided("refused after the event was written")

    monkeypatch.setattr(card_commands, "note_burst", late)
    with pytest.raises(RuntimeError) as raised:
        ledger.redeem(STORE1, number, code)
    assert isinstance(raised.value.__cause__, errors.CardVoided)
    assert log_size(ledger) == size
    assert _state(ledger, number) == "ISSUED"
    assert rows(ledger, anomalies) == []


def _claimed_card(ledger):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust")
    return number, code


def _pickup(ledger, mode="store"):
    number, code = _claimed_card(ledger)
    where = {"store_id": "S1"} if mode == "store" else {"address_ref": "addr"}
    return ledger.request_pickup(HQ, number, mode, code, **where)["pickup_id"]


def _blocked_card(ledger):
    number, code = issue(ledger)
    ledger.block(HQ, number)
    return number, code


def _ready_pickup(ledger):
    number, code = _claimed_card(ledger)
    pickup_id = ledger.request_pickup(HQ, number, "store", code, store_id="S1")["pickup_id"]
    ledger.pickup_ready(STORE1, pickup_id)
    return pickup_id, code


def _reviewed_delivery(ledger):
    pickup_id = _pickup(ledger, "delivery")
    ledger.pickup_review(HQ, pickup_id)
    return pickup_id


# Each: (prepare the ledger, the command given within=, the table it adds rows to and how
# many, the events it logs).
COMMANDS = {
    "create_store": (
        lambda lg: None,
        lambda lg, _, w: lg.create_store(HQ, "S8", "Eight", "west", within=w),
        (stores, 1),
        0,
    ),
    "issue_cards": (
        lambda lg: None,
        lambda lg, _, w: lg.issue_cards(HQ, "B9", [{"product": "x"}] * 2, within=w),
        (cards, 2),
        2,
    ),
    "claim": (issue, lambda lg, card, w: lg.claim(HQ, card[0], "h", within=w), None, 1),
    "transfer": (
        _claimed_card,
        lambda lg, card, w: lg.transfer(HQ, card[0], card[1], "h2", within=w),
        None,
        1,
    ),
    "redeem": (
        issue,
        lambda lg, card, w: lg.redeem(STORE1, card[0], card[1], within=w),
        None,
        1,
    ),
    "block": (issue, lambda lg, card, w: lg.block(HQ, card[0], within=w), None, 1),
    "unblock": (_blocked_card, lambda lg, card, w: lg.unblock(HQ, card[0], within=w), None, 1),
    "void": (issue, lambda lg, card, w: lg.void(HQ, card[0], within=w), None, 1),
    "request_pickup": (
        _claimed_card,
        lambda lg, card, w: lg.request_pickup(HQ, card[0], "store", card[1], "S1", within=w),
        (pickups, 1),
        1,
    ),
    "pickup_ready": (
        _pickup,
        lambda lg, pickup_id, w: lg.pickup_ready(STORE1, pickup_id, within=w),
        None,
        1,
    ),
    "pickup_review": (
        lambda lg: _pickup(lg, "delivery"),
        lambda lg, pickup_id, w: lg.pickup_review(HQ, pickup_id, within=w),
        None,
        1,
    ),
    "pickup_ship": (
        _reviewed_delivery,
        lambda lg, pickup_id, w: lg.pickup_ship(HQ, pickup_id, "SF", "SF1", within=w),
        None,
        1,
    ),
    "pickup_complete": (
        _ready_pickup,
        lambda lg, ready, w: lg.pickup_complete(
            STORE1, ready[0], credential="card_code", code=ready[1], within=w
        ),
        None,
        1,
    ),
    "cancel_pickup": (
        _pickup,
        lambda lg, pickup_id, w: lg.cancel_pickup(HQ, pickup_id, within=w),
        None,
        1,
    ),
    "move_pickup": (
        _pickup,
        lambda lg, pickup_id, w: lg.move_pickup(HQ, pickup_id, "S2", within=w),
        None,
        1,
    ),
    "offer_gift": (
        issue,
        lambda lg, card, w: lg.offer_gift(HQ, card[0], card[1], within=w),
        (gift_offers, 1),
        1,
    ),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_joins_the_callers_unit_of_work(ledger, stores, name):
    prepare, command, added, logged = COMMANDS[name]
    subject = prepare(ledger)
    table, more = added if added else (events, logged)
    size, count = log_size(ledger), len(rows(ledger, table))
    with pytest.raises(RuntimeError), ledger.unit_of_work() as conn:
        command(ledger, subject, conn)
        raise RuntimeError("the caller failed after the command")
    assert (log_size(ledger), len(rows(ledger, table))) == (size, count), (
        "the caller's rollback took all of the command"
    )
    with ledger.unit_of_work() as conn:
        command(ledger, subject, conn)
    assert (log_size(ledger), len(rows(ledger, table))) == (size + logged, count + more)
