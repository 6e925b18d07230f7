"""Dashboard aggregates on SQLite and PostgreSQL, against what the Ledger was made to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from anchoring.db import read_transaction
from ledger_service import db
from ledger_service.actor import Actor
from ledger_service.domain.codes import generate_code
from ledger_service.errors import LedgerError
from ledger_service.service import Ledger
from portal import dashboard

HQ = Actor("hq", "tok_dash")
S1 = Actor("store", "tok_s1", store_id="S1")
S2 = Actor("store", "tok_s2", store_id="S2")


class SteppingClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def ledger(engine, clock) -> Ledger:
    db.upgrade(engine)
    led = Ledger(engine, bytes(range(32)), clock=clock)
    led.create_store(HQ, "S1", "Shanghai", "east")
    led.create_store(HQ, "S2", "Beijing", "north")
    return led


def issue(ledger: Ledger, n: int, **extra) -> list[tuple[str, str]]:
    cards = ledger.issue_cards(HQ, "B", [{"product": "Baijiu", **extra}] * n, active=True)["cards"]
    return [(c["card_number"], c["redemption_code"]) for c in cards]


def pickup(ledger: Ledger, number: str, code: str, store: str | None) -> str:
    ledger.claim(HQ, number, "holder")
    if store is None:
        return ledger.request_pickup(HQ, number, "delivery", code, address_ref="addr-1")[
            "pickup_id"
        ]
    return ledger.request_pickup(HQ, number, "store", code, store_id=store)["pickup_id"]


def test_activity_counts_each_type_per_store_and_utc_day(engine, ledger, clock):
    day1 = clock.now
    cards = issue(ledger, 6)
    for number, code in cards[:2]:
        ledger.redeem(S1, number, code)
    clock.now = day1 + timedelta(days=1, hours=15)  # 2026-03-12 00:00 UTC
    issue(ledger, 3)
    ledger.redeem(S2, *cards[2])
    ledger.redeem(HQ, *cards[3])
    pk = pickup(ledger, *cards[4], "S1")
    ledger.pickup_ready(S1, pk)
    ledger.pickup_complete(S1, pk, credential="card_code", code=cards[4][1])
    with read_transaction(engine) as conn:
        act = dashboard.activity(conn, clock.now, days=3)
    assert act.days == ("2026-03-10", "2026-03-11", "2026-03-12")
    assert act.series("ISSUED") == [6, 0, 3]
    assert act.series("REDEEMED") == [2, 0, 2]
    assert act.series("REDEEMED", "S1") == [2, 0, 0]
    assert act.series("PICKUP_COMPLETED", "S1") == [0, 0, 1]
    rows = {row.store_id: row for row in act.by_store({"S1": "Shanghai", "S2": "Beijing"})}
    assert (rows["S1"].redeemed, rows["S1"].picked_up, rows["S1"].name) == (2, 1, "Shanghai")
    assert (rows["S2"].redeemed, rows["S2"].issued) == (1, 0)
    assert (rows[dashboard.NO_STORE].issued, rows[dashboard.NO_STORE].redeemed) == (9, 1)
    assert act.daily_rows()[0][0] == "2026-03-12"


def test_activity_window_leaves_older_days_out(engine, ledger, clock):
    issue(ledger, 2)
    clock.now += timedelta(days=10)
    issue(ledger, 1)
    with read_transaction(engine) as conn:
        act = dashboard.activity(conn, clock.now, days=7)
    assert act.total("ISSUED") == 1


def test_activity_of_one_store(engine, ledger, clock):
    cards = issue(ledger, 2)
    ledger.redeem(S1, *cards[0])
    ledger.redeem(S2, *cards[1])
    with read_transaction(engine) as conn:
        act = dashboard.activity(conn, clock.now, days=1, store_id="S2")
    assert act.total("REDEEMED") == 1 and act.total("ISSUED") == 0


def test_pickup_rates_per_store_and_delivery(engine, ledger):
    cards = issue(ledger, 4)
    done = pickup(ledger, *cards[0], "S1")
    ledger.pickup_ready(S1, done)
    ledger.pickup_complete(S1, done, credential="card_code", code=cards[0][1])
    pickup(ledger, *cards[1], "S1")
    shipped = pickup(ledger, *cards[2], None)
    ledger.pickup_review(HQ, shipped)
    ledger.pickup_ship(HQ, shipped, "SF Express", "SF1")
    with read_transaction(engine) as conn:
        rates = {r.store_id: r for r in dashboard.pickup_rates(conn)}
        only_s1 = dashboard.pickup_rates(conn, "S1")
    assert (rates["S1"].requested, rates["S1"].completed, rates["S1"].open) == (2, 1, 1)
    assert rates["S1"].percent == 50
    assert (rates[dashboard.NO_STORE].requested, rates[dashboard.NO_STORE].open) == (1, 1)
    assert rates[dashboard.NO_STORE].percent == 0
    assert [r.store_id for r in only_s1] == ["S1"]


def test_pending_pickups_are_the_stores_own_open_ones(engine, ledger, clock):
    cards = issue(ledger, 4)
    waiting = pickup(ledger, *cards[0], "S1")
    clock.now += timedelta(minutes=1)
    ready = pickup(ledger, *cards[1], "S1")
    ledger.pickup_ready(S1, ready)
    finished = pickup(ledger, *cards[2], "S1")
    ledger.pickup_ready(S1, finished)
    ledger.pickup_complete(S1, finished, credential="card_code", code=cards[2][1])
    elsewhere = pickup(ledger, *cards[3], "S2")
    with read_transaction(engine) as conn:
        pending = dashboard.pending_pickups(conn, "S1")
    assert [(p.pickup_id, p.state) for p in pending] == [
        (waiting, "PICKUP_REQUESTED"),
        (ready, "PICKUP_READY"),
    ]
    assert elsewhere not in {p.pickup_id for p in pending}


def test_expiring_cards_are_unused_cards_due_within_the_window(engine, ledger, clock):
    soon = (clock.now + timedelta(days=5)).isoformat()
    later = (clock.now + timedelta(days=90)).isoformat()
    due = issue(ledger, 3, expires_at=soon)
    issue(ledger, 2, expires_at=later)
    issue(ledger, 1)
    ledger.redeem(S1, *due[0])
    with read_transaction(engine) as conn:
        total, shown = dashboard.expiring_cards(conn, clock.now, timedelta(days=30), limit=1)
    assert total == 2
    assert len(shown) == 1 and shown[0].card_number in {due[1][0], due[2][0]}
    assert shown[0].expires_at == clock.now + timedelta(days=5)


def _wrong(ledger: Ledger, actor: Actor, number: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(LedgerError):
            ledger.redeem(actor, number, generate_code())


def test_locked_codes_and_wrong_code_bursts(engine, ledger, clock):
    (locked, _), (burst, _), (quiet, _) = issue(ledger, 3)
    _wrong(ledger, S1, locked, 5)
    _wrong(ledger, S2, burst, 2)
    _wrong(ledger, S1, burst, 1)
    _wrong(ledger, S1, quiet, 2)
    with read_transaction(engine) as conn:
        locks = dashboard.locked_codes(conn, clock.now)
        bursts = {b.card_number: b for b in dashboard.wrong_code_bursts(conn, clock.now)}
        later = dashboard.locked_codes(conn, clock.now + timedelta(minutes=16))
    assert [(lock.card_number, lock.locks) for lock in locks] == [(locked, 1)]
    assert locks[0].locked_until == clock.now + timedelta(minutes=15)
    assert later == []
    assert set(bursts) == {locked, burst}
    assert (bursts[burst].failures, bursts[burst].stores) == (3, ("S1", "S2"))
    assert bursts[locked].failures == 5


def test_anomaly_report_counts_kinds_in_the_window(engine, ledger, clock):
    [(used, code), (other, other_code)] = issue(ledger, 1) + issue(ledger, 1, allowed_stores=["S2"])
    ledger.redeem(S1, used, code)
    with pytest.raises(LedgerError):
        ledger.redeem(S1, used, code)
    with pytest.raises(LedgerError):
        ledger.redeem(S1, other, other_code)
    clock.now += timedelta(days=8)
    with pytest.raises(LedgerError):
        ledger.redeem(S2, used, code)
    with read_transaction(engine) as conn:
        report = dashboard.anomaly_report(conn, clock.now, since=timedelta(days=7))
        everything = dashboard.anomaly_report(conn, clock.now, since=timedelta(days=30))
    assert report.counts == {"used_card_attempt": 1}
    assert everything.counts == {"used_card_attempt": 2, "other_store_attempt": 1}
    assert everything.recent[0].kind == "used_card_attempt"
    assert everything.recent[0].store_id == "S2"


def test_state_counts(engine, ledger):
    cards = issue(ledger, 3)
    ledger.redeem(S1, *cards[0])
    ledger.void(HQ, cards[1][0], "lost")
    with read_transaction(engine) as conn:
        assert dashboard.state_counts(conn) == {"ISSUED": 1, "REDEEMED": 1, "VOIDED": 1}


# --- pure parts ------------------------------------------------------------------------


def test_day_range_ends_on_the_given_day():
    assert dashboard.day_range(datetime(2026, 3, 1).date(), 3) == [
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
    ]


def test_bar_chart_scales_to_the_tallest_bar_and_groups_by_day():
    chart = dashboard.bar_chart(
        ["2026-03-01", "2026-03-02"], {"a": [1, 4], "b": [2, 0]}, width=200, plot_height=100
    )
    assert chart.maximum == 4 and chart.series == ("a", "b")
    heights = {(bar.label, bar.series): bar.height for bar in chart.bars}
    assert heights == {
        ("2026-03-01", "a"): 25.0,
        ("2026-03-01", "b"): 50.0,
        ("2026-03-02", "a"): 100.0,
        ("2026-03-02", "b"): 0.0,
    }
    for bar in chart.bars:
        assert bar.y + bar.height == pytest.approx(chart.baseline)
        assert 0 <= bar.x and bar.x + bar.width <= chart.width
    day_one = [bar for bar in chart.bars if bar.label == "2026-03-01"]
    day_two = [bar for bar in chart.bars if bar.label == "2026-03-02"]
    assert max(b.x + b.width for b in day_one) <= min(b.x for b in day_two)


def test_bar_chart_of_nothing_has_flat_bars():
    chart = dashboard.bar_chart(["2026-03-01"], {"a": [0]})
    assert chart.maximum == 0 and [bar.height for bar in chart.bars] == [0.0]
