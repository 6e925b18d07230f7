"""Business days follow the merchant's clock (CARDTRAIL_TIMEZONE, Beijing time by default),
on SQLite and PostgreSQL: the dashboard's days, the counter's "today", times on pages.

The two instants below are both 2026-12-01 in UTC, but in Beijing the first is the evening
of 1 December and the second the small hours of 2 December.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from anchoring.db import read_transaction
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.service import Ledger
from portal import console as console_module
from portal import dashboard

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 2026-12-01 23:30 Beijing time
SMALL_HOURS = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # 2026-12-02 00:30 Beijing time
AT_NIGHT = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 2026-12-02 01:00 Beijing time
HQ = Actor("hq", "tok_days_hq")
S1 = Actor("store", "tok_days_s1", store_id="S1")


class Clock:
    """A clock the test sets by hand."""

    def __init__(self) -> None:
        self.now = EVENING

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(app, clock) -> Ledger:
    rt = app.extensions["cardtrail"]
    led = Ledger(rt.engine, rt.secret_key, clock=clock)
    led.create_store(HQ, "S1", "上海南京路店", "east")
    return led


def _redeem_at(ledger: Ledger, clock: Clock, moments: list[datetime]) -> list[str]:
    clock.now = moments[0] - timedelta(minutes=5)
    issued = ledger.issue_cards(HQ, "B-DAYS", [{"product": "Baijiu"}] * len(moments), active=True)[
        "cards"
    ]
    for card, moment in zip(issued, moments, strict=True):
        clock.now = moment
        ledger.redeem(S1, card["card_number"], card["redemption_code"])
    return [card["card_number"] for card in issued]


def test_an_evening_and_a_night_in_beijing_are_two_business_days(app, ledger, clock):
    _redeem_at(ledger, clock, [EVENING, SMALL_HOURS])
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        beijing = dashboard.activity(conn, now, 3, zone=SHANGHAI)
        utc = dashboard.activity(conn, now, 3, zone=UTC)
    assert beijing.days == ("2026-11-30", "2026-12-01", "2026-12-02")
    assert beijing.series("REDEEMED") == [0, 1, 1]
    assert utc.series("REDEEMED") == [0, 2, 0]


def test_the_counters_today_begins_at_midnight_beijing_time(app, ledger, clock):
    _redeem_at(ledger, clock, [EVENING, SMALL_HOURS])
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        today = dashboard.activity(conn, AT_NIGHT, 1, store_id="S1", zone=SHANGHAI)
    assert today.days == ("2026-12-02",)
    assert today.total("REDEEMED") == 1


def _signed_in_store(app):
    rt = app.extensions["cardtrail"]
    token = create_token(rt.engine, rt.secret_key, "store", "S1").token
    client = app.test_client()
    client.get("/console/login")
    with client.session_transaction() as session:
        csrf = session["console_csrf"]
    signed_in = client.post("/console/login", data={"token": token, "csrf_token": csrf})
    assert signed_in.status_code == 303
    return client


def test_the_counter_page_counts_today_in_beijing_time(app, ledger, clock, monkeypatch):
    _redeem_at(ledger, clock, [EVENING, SMALL_HOURS])
    monkeypatch.setattr(console_module, "_now", lambda: AT_NIGHT)
    page = _signed_in_store(app).get("/console/counter").get_data(as_text=True)
    assert "Today (Beijing time):" in page
    assert '<span id="today-redeemed">1</span> redeemed' in page


def test_another_merchant_zone_moves_the_day_and_names_the_zone(
    settings, ledger, clock, monkeypatch
):
    from cardtrail.app import create_app

    # The same database, served by a merchant whose business runs on UTC.
    _redeem_at(ledger, clock, [EVENING, SMALL_HOURS])
    utc_app = create_app(dataclasses.replace(settings, timezone="UTC"), {"TESTING": True})
    monkeypatch.setattr(console_module, "_now", lambda: AT_NIGHT)
    client = _signed_in_store(utc_app)
    page = client.get("/console/counter", headers={"Accept-Language": "en"}).get_data(as_text=True)
    utc_app.extensions["cardtrail"].engine.dispose()
    assert "Today (UTC):" in page
    assert '<span id="today-redeemed">2</span> redeemed' in page


def test_times_on_the_card_page_are_the_merchants(app, ledger, clock):
    [number] = _redeem_at(ledger, clock, [SMALL_HOURS])
    page = app.test_client().get(f"/c/{number}").get_data(as_text=True)
    assert "2026-12-02 00:30 Beijing time" in page
    assert "2026-12-01 16:30" not in page
    chinese = app.test_client().get(f"/c/{number}", headers={"Accept-Language": "zh-CN"})
    assert "2026-12-02 00:30 北京时间" in chinese.get_data(as_text=True)


# --- day boundaries, pure ----------------------------------------------------------------------


def test_a_business_day_starts_at_local_midnight():
    assert dashboard.business_day(EVENING, SHANGHAI) == date(2026, 12, 1)
    assert dashboard.business_day(SMALL_HOURS, SHANGHAI) == date(2026, 12, 2)
    assert dashboard.day_start(date(2026, 12, 2), SHANGHAI) == datetime(
        2026, 12, 1, 16, 0, tzinfo=UTC
    )


def test_a_day_that_changes_clocks_has_its_real_length():
    [(day, start, end)] = dashboard.day_bounds(["2026-03-29"], ZoneInfo("Europe/Berlin"))
    assert day == "2026-03-29"
    assert end - start == timedelta(hours=23)
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
