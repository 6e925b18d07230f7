"""The console's books, daily close, reminders, deliveries and headquarters' actions, over
HTTP on SQLite and PostgreSQL.

Value events (activation, partial redemption) belong to another area of the ledger; where
a test needs a sold stored-value card it writes the row the way the contract says the
ledger would (kind, balance, channel, sale), straight into ``cards``.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from anchoring.db import write_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.csv_cells import safe_cell
from ledger_service.schema import admin_actions, cards, events
from ledger_service.service import Ledger

HQ = Actor("hq", "tok_books_hq")
S1 = Actor("store", "tok_books_s1", store_id="S1")
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def ledger(app) -> Ledger:
    rt = app.extensions["cardtrail"]
    led = Ledger(rt.engine, rt.secret_key)
    led.create_store(HQ, "S1", "上海南京路店", "east")
    led.create_store(HQ, "S2", "北京王府井店", "north")
    return led


def issue(ledger: Ledger, **fields) -> tuple[str, str]:
    batch = [{"product": "茅台 53% 500ml", **fields}]
    card = ledger.issue_cards(HQ, "B-BOOKS", batch, active=True)["cards"][0]
    return card["card_number"], card["redemption_code"]


def set_card(app, number: str, **values) -> None:
    with write_transaction(app.extensions["cardtrail"].engine) as conn:
        conn.execute(sa.update(cards).where(cards.c.number == number).values(**values))


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(data[len(BOM) :].decode("utf-8"), newline="")))


# --- headquarters' actions --------------------------------------------------------------


def test_hq_blocks_unblocks_and_voids_from_the_card_page_and_each_is_recorded(
    app, ledger, signed_in
):
    console, token_id = signed_in("hq")
    number, _ = issue(ledger)
    page = console.get(f"/console/cards?number={number}").get_data(as_text=True)
    assert 'id="form-block"' in page and 'id="form-unblock"' not in page
    done = console.post(
        f"/console/cards/{number}/admin/block", {"reason_code": "stolen", "reason": "报失"}
    )
    assert done.status_code == 303 and "done=block" in done.headers["Location"]
    page = console.get(f"/console/cards?number={number}").get_data(as_text=True)
    assert 'id="form-unblock"' in page and 'id="done"' not in page
    console.post(f"/console/cards/{number}/admin/unblock", {"reason_code": "other"})
    console.post(f"/console/cards/{number}/admin/void", {"reason_code": "issuer_error"})
    with app.extensions["cardtrail"].engine.connect() as conn:
        types = conn.execute(
            sa.select(events.c.type, events.c.actor_id)
            .where(events.c.card_number == number)
            .order_by(events.c.seq)
        ).all()
        record = conn.execute(
            sa.select(admin_actions.c.action, admin_actions.c.actor_id).order_by(admin_actions.c.id)
        ).all()
    assert [t for t, _ in types] == ["ISSUED", "BLOCKED", "UNBLOCKED", "VOIDED"]
    assert {a for _, a in types[1:]} == {token_id}
    assert [tuple(r) for r in record] == [
        ("block", token_id),
        ("unblock", token_id),
        ("void", token_id),
    ]
    listing = console.get("/console/actions").get_data(as_text=True)
    assert listing.count(f"hq:{token_id}") == 3
    # A voided card offers no more actions.
    page = console.get(f"/console/cards?number={number}").get_data(as_text=True)
    assert 'class="inline admin-action"' not in page


def test_unlocking_a_code_from_the_console_is_recorded(app, ledger, signed_in):
    console, token_id = signed_in("hq")
    number, code = issue(ledger)
    for _ in range(5):
        with pytest.raises(errors.LedgerError):
            ledger.redeem(S1, number, "WRONG-CODE")
    assert console.post(f"/console/cards/{number}/unlock").status_code == 303
    listing = console.get("/console/actions").get_data(as_text=True)
    assert 'data-action="unlock_code"' in listing and f"hq:{token_id}" in listing
    assert ledger.redeem(S1, number, code)["state"] == "REDEEMED"


@pytest.mark.parametrize("who", ["auditor", "S1"])
def test_only_headquarters_may_act_on_cards(app, ledger, signed_in, who):
    console, _ = signed_in(who)
    number, _ = issue(ledger)
    assert console.post(f"/console/cards/{number}/admin/block").status_code == 403
    assert console.post(f"/console/cards/{number}/unlock").status_code == 403
    assert ledger.get_card(HQ, number)["state"] == "ISSUED"


def test_a_refused_action_shows_why_and_records_nothing(app, ledger, signed_in):
    console, _ = signed_in("hq")
    number, code = issue(ledger)
    ledger.redeem(S1, number, code)
    refused = console.post(f"/console/cards/{number}/admin/void")
    assert refused.status_code == 409
    assert "admin-actions" not in refused.get_data(as_text=True)
    assert 'data-action="void"' not in console.get("/console/actions").get_data(as_text=True)


def test_the_card_page_calls_a_card_past_its_date_expired_before_the_job_ran(
    app, ledger, signed_in
):
    console, _ = signed_in("hq")
    number, _ = issue(ledger)
    page = console.get(f"/console/cards?number={number}").get_data(as_text=True)
    assert 'id="past-date"' not in page
    set_card(app, number, expires_at=datetime.now(UTC) - timedelta(hours=1))
    page = console.get(f"/console/cards?number={number}").get_data(as_text=True)
    assert 'id="past-date"' in page


# --- the books ----------------------------------------------------------------------------


def test_dashboard_and_books_show_money(app, ledger, signed_in):
    console, _ = signed_in("hq")
    tea, _ = issue(ledger, face_value=29900, currency="CNY")
    sold, _ = issue(ledger, face_value=50000, currency="CNY")
    # A stored-value card sold on a channel whose id someone typed as a formula.
    set_card(
        app,
        sold,
        kind="stored_value",
        balance=123450,
        channel_id="=HYPERLINK(1)",
        sale_price=48000,
        activated_at=datetime.now(UTC),
    )
    dashboard = console.get("/console/dashboard").get_data(as_text=True)
    # ¥299.00 (unused pickup card) + ¥1,234.50 (balance) = ¥1,533.50
    assert re.search(r'class="figure liability">¥1,533.50<', dashboard)
    books = console.get("/console/books?by=channel").get_data(as_text=True)
    assert "¥1,234.50" in books and "¥480.00" in books
    rows = read_csv(console.get("/console/books?by=channel&format=csv").get_data())
    assert rows[0][:3] == ["channel", "name", "currency"]
    formula_row = next(r for r in rows if r[0].endswith("HYPERLINK(1)"))
    assert formula_row[0] == safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert formula_row[3:7] == ["1", "480.00", "500.00", "1234.50"]
    assert tea  # the unsold-channel pickup card sits under no channel
    assert next(r for r in rows if r[0] == "")[6] == "299.00"


def test_daily_close_in_money_per_store_and_csv_with_chinese_names(app, ledger, signed_in):
    number, code = issue(ledger, face_value=29900, currency="CNY")
    ledger.redeem(S1, number, code)
    console, _ = signed_in("hq")
    page = console.get("/console/close").get_data(as_text=True)
    assert re.search(r'data-store="S1">.*?上海南京路店.*?¥299.00', page, re.DOTALL)
    rows = read_csv(console.get("/console/close?format=csv").get_data())
    header, line = rows[0], rows[1]
    record = dict(zip(header, line, strict=True))
    assert (record["store"], record["redemptions"], record["redeemed"], record["net"]) == (
        "上海南京路店",
        "1",
        "299.00",
        "299.00",
    )


def test_store_staff_see_only_their_own_close(app, ledger, signed_in):
    first, code = issue(ledger, face_value=100, currency="CNY")
    ledger.redeem(S1, first, code)
    other, code = issue(ledger, face_value=200, currency="CNY")
    ledger.redeem(Actor("store", "tok_s2", store_id="S2"), other, code)
    console, _ = signed_in("S2")
    page = console.get("/console/close").get_data(as_text=True)
    assert 'data-store="S2"' in page and 'data-store="S1"' not in page


def test_reminders_list_cards_expiring_soon_with_holder_only_for_hq(app, ledger, signed_in):
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    number, _ = issue(ledger, expires_at=soon, face_value=9900, currency="CNY")
    ledger.claim(HQ, number, "crm-42")
    issue(ledger, expires_at=later)
    hq, _ = signed_in("hq")
    page = hq.get("/console/reminders?days=7").get_data(as_text=True)
    assert 'id="reminders-total">1 ' in page and "¥99.00" in page and "crm-42" in page
    assert hq.get("/console/reminders?days=90").get_data(as_text=True).count("<tr><td><a") == 2
    rows = read_csv(hq.get("/console/reminders?days=7&format=csv").get_data())
    assert rows[0][-1] == "holder_ref" and rows[1][0] == number and rows[1][-1] == "crm-42"
    auditor, _ = signed_in("auditor")
    rows = read_csv(auditor.get("/console/reminders?days=7&format=csv").get_data())
    assert "holder_ref" not in rows[0] and "crm-42" not in str(rows)


def test_open_deliveries_worklist(app, ledger, signed_in):
    delivered, code = issue(ledger)
    ledger.claim(HQ, delivered, "crm-1")
    pickup = ledger.request_pickup(HQ, delivered, "delivery", code, address_ref="addr-9")
    in_store, code = issue(ledger)
    ledger.claim(HQ, in_store, "crm-2")
    ledger.request_pickup(HQ, in_store, "store", code, store_id="S1")
    console, _ = signed_in("hq")
    page = console.get("/console/deliveries").get_data(as_text=True)
    assert f'data-pickup="{pickup["pickup_id"]}"' in page and "addr-9" in page
    assert page.count("data-pickup=") == 1
    ledger.pickup_review(HQ, pickup["pickup_id"])
    ledger.pickup_ship(HQ, pickup["pickup_id"], "SF", "SF1234567890")
    ledger.pickup_complete(HQ, pickup["pickup_id"])
    page = console.get("/console/deliveries").get_data(as_text=True)
    assert "data-pickup=" not in page
