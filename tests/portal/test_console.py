"""The merchant console over HTTP, on SQLite and PostgreSQL: sign-in, CSRF, roles, actions."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from cardtrail.app import create_app
from ledger_service.actor import Actor
from ledger_service.auth import create_token, revoke_token
from ledger_service.domain.codes import generate_code
from ledger_service.domain.numbers import format_card_number
from ledger_service.schema import console_sessions, events
from ledger_service.service import Ledger
from portal import console as console_module
from portal.console import CSRF_KEY, SESSION_HOURS, SESSION_KEY

HQ = Actor("hq", "tok_console_test")


@dataclass
class Console:
    """A browser-like client of /console signed in (or not) with one token."""

    client: Any

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            return session.get(CSRF_KEY, "")

    def login(self, token: str):
        self.client.get("/console/login")
        return self.client.post("/console/login", data={"token": token, "csrf_token": self.csrf()})

    def post(self, path: str, data: dict[str, Any] | None = None, **kw):
        return self.client.post(path, data={"csrf_token": self.csrf(), **(data or {})}, **kw)

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)


@pytest.fixture
def ledger(app) -> Ledger:
    rt = app.extensions["cardtrail"]
    led = Ledger(rt.engine, rt.secret_key)
    led.create_store(HQ, "S1", "上海南京路店 Shanghai Nanjing Road", "east")
    led.create_store(HQ, "S2", "北京王府井店 Beijing Wangfujing", "north")
    return led


@pytest.fixture
def tokens(app, ledger) -> dict[str, str]:
    rt = app.extensions["cardtrail"]

    def make(role: str, store: str | None = None) -> str:
        return create_token(rt.engine, rt.secret_key, role, store).token

    return {
        "hq": make("hq"),
        "auditor": make("auditor"),
        "S1": make("store", "S1"),
        "S2": make("store", "S2"),
    }


def console_as(app, tokens, who: str) -> Console:
    console = Console(app.test_client())
    assert console.login(tokens[who]).status_code == 303
    return console


def issue(ledger: Ledger, n: int = 1, **extra) -> list[tuple[str, str]]:
    cards = ledger.issue_cards(
        HQ, "B-CONSOLE", [{"product": "Baijiu 500ml", **extra}] * n, active=True
    )["cards"]
    return [(c["card_number"], c["redemption_code"]) for c in cards]


def event_types(app, number: str) -> list[str]:
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        query = (
            sa.select(events.c.type).where(events.c.card_number == number).order_by(events.c.seq)
        )
        return list(conn.execute(query).scalars())


def log_size(app) -> int:
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        return MerkleLog(conn).size()


def cell(html: str, row_attr: str, cls: str) -> int:
    row = re.search(rf"<tr {row_attr}>(.*?)</tr>", html, re.DOTALL)
    assert row, f"no row {row_attr}"
    return int(re.search(rf'class="num {cls}">(\d+)<', row.group(1)).group(1))


# --- signing in -----------------------------------------------------------------------


def test_hq_login_sets_httponly_lax_cookie_and_lands_on_dashboard(app, tokens):
    console = Console(app.test_client())
    response = console.login(tokens["hq"])
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/dashboard")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert tokens["hq"] not in cookie
    assert console.get("/console/dashboard").status_code == 200


def test_store_login_lands_on_counter(app, tokens):
    response = Console(app.test_client()).login(tokens["S1"])
    assert response.headers["Location"].endswith("/console/counter")


def test_wrong_token_is_refused(app, tokens):
    console = Console(app.test_client())
    response = console.login(tokens["hq"][:-1] + ("0" if tokens["hq"][-1] != "0" else "1"))
    assert response.status_code == 401
    assert console.get("/console/dashboard").status_code == 303


def test_pages_need_a_session(client, tokens):
    response = client.get("/console/dashboard")
    assert response.status_code == 303
    assert "/console/login" in response.headers["Location"]


def test_revoked_token_ends_the_session(app, tokens):
    console = console_as(app, tokens, "hq")
    revoke_token(app.extensions["cardtrail"].engine, tokens["hq"].split("_")[1])
    assert console.get("/console/dashboard").status_code == 303


def _session_rows(app) -> list[Any]:
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        return conn.execute(sa.select(console_sessions)).all()


def test_session_ends_after_its_hours(app, tokens):
    console = console_as(app, tokens, "hq")
    [row] = _session_rows(app)
    assert row.expires_at - row.created_at == timedelta(hours=SESSION_HOURS)
    with app.extensions["cardtrail"].engine.begin() as conn:
        conn.execute(
            console_sessions.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert console.get("/console/dashboard").status_code == 303


def test_logout_ends_the_session(app, tokens):
    console = console_as(app, tokens, "hq")
    assert console.post("/console/logout").status_code == 303
    assert console.get("/console/dashboard").status_code == 303


def _cookie(console: Console) -> str:
    cookie = console.client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_cookie_copied_before_logout_is_refused_after_it(app, tokens):
    console = console_as(app, tokens, "hq")
    copied = _cookie(console)
    thief = Console(app.test_client())
    thief.client.set_cookie("session", copied)
    assert thief.get("/console/dashboard").status_code == 200
    assert console.post("/console/logout").status_code == 303
    assert thief.get("/console/dashboard").status_code == 303
    assert _session_rows(app) == []


def test_logout_ends_only_its_own_session(app, tokens):
    laptop, phone = console_as(app, tokens, "hq"), console_as(app, tokens, "hq")
    assert laptop.post("/console/logout").status_code == 303
    assert phone.get("/console/dashboard").status_code == 200


def test_signing_in_again_ends_the_sessions_earlier_cookie(app, tokens):
    console = console_as(app, tokens, "hq")
    earlier = Console(app.test_client())
    earlier.client.set_cookie("session", _cookie(console))
    assert console.login(tokens["auditor"]).status_code == 303
    assert earlier.get("/console/dashboard").status_code == 303
    assert console.get("/console/issue").status_code == 403, "now signed in as the auditor"
    assert len(_session_rows(app)) == 1


def test_a_cookie_from_before_server_side_sessions_must_sign_in_again(app, tokens):
    console = Console(app.test_client())
    with console.client.session_transaction() as session:
        # What the cookie held before: the token's id and the sign-in time, nothing to revoke.
        session[SESSION_KEY] = {"token_id": tokens["hq"].split("_")[1], "since": int(time.time())}
    assert console.get("/console/dashboard").status_code == 303


def test_revoking_the_token_refuses_every_copy_of_its_cookie(app, tokens):
    console = console_as(app, tokens, "S1")
    thief = Console(app.test_client())
    thief.client.set_cookie("session", _cookie(console))
    assert thief.get("/console/counter").status_code == 200
    revoke_token(app.extensions["cardtrail"].engine, tokens["S1"].split("_")[1])
    assert thief.get("/console/counter").status_code == 303
    assert console.get("/console/counter").status_code == 303


def test_the_session_cookie_is_secure_outside_development(settings, tokens):
    production = dataclasses.replace(
        settings, chain_rpc_url="https://rpc.example", public_base_url="http://localhost"
    )
    app = create_app(production, {"TESTING": True})
    try:
        rt = app.extensions["cardtrail"]
        token = create_token(rt.engine, rt.secret_key, "hq").token
        cookie = Console(app.test_client()).login(token).headers["Set-Cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie
    finally:
        app.extensions["cardtrail"].engine.dispose()


def test_the_dev_servers_plain_http_session_cookie_is_not_secure(app, tokens):
    cookie = Console(app.test_client()).login(tokens["hq"]).headers["Set-Cookie"]
    assert "Secure" not in cookie


def test_login_redirects_only_inside_the_console(app, tokens):
    console = Console(app.test_client())
    console.client.get("/console/login")
    data = {"token": tokens["hq"], "csrf_token": console.csrf(), "next": "//evil.example/"}
    assert (
        console.client.post("/console/login", data=data)
        .headers["Location"]
        .endswith("/console/dashboard")
    )
    data.update(next="/console/cards?number=X", csrf_token=console.csrf())
    assert (
        console.client.post("/console/login", data=data)
        .headers["Location"]
        .endswith("/console/cards?number=X")
    )


# --- CSRF -----------------------------------------------------------------------------


def test_post_without_csrf_token_is_refused_and_writes_nothing(app, ledger, tokens):
    [(number, code)] = issue(ledger)
    console = console_as(app, tokens, "S1")
    size = log_size(app)
    response = console.client.post("/console/counter/redeem", data={"number": number, "code": code})
    assert response.status_code == 400
    response = console.client.post(
        "/console/counter/redeem", data={"number": number, "code": code, "csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert log_size(app) == size
    assert event_types(app, number) == ["ISSUED"]


def test_login_without_csrf_token_is_refused(app, tokens):
    client = app.test_client()
    response = client.post("/console/login", data={"token": tokens["hq"]})
    assert response.status_code == 400
    assert client.get("/console/dashboard").status_code == 303


# --- store staff ---------------------------------------------------------------------


def test_redeem_via_console_writes_one_redeemed_event(app, ledger, tokens):
    [(number, code)] = issue(ledger)
    console = console_as(app, tokens, "S1")
    size = log_size(app)
    # As a scanner might send it: lower case, spaces, dashes.
    scanned = format_card_number(number).lower().replace("-", " ")
    response = console.post("/console/counter/redeem", {"number": scanned, "code": code.lower()})
    assert response.status_code == 200
    assert 'id="result"' in response.get_data(as_text=True)
    assert log_size(app) == size + 1
    assert event_types(app, number) == ["ISSUED", "REDEEMED"]
    assert ledger.get_card(HQ, number)["events"][-1]["store_id"] == "S1"


def test_redeeming_twice_is_refused(app, ledger, tokens):
    [(number, code)] = issue(ledger)
    console = console_as(app, tokens, "S1")
    console.post("/console/counter/redeem", {"number": number, "code": code})
    response = console.post("/console/counter/redeem", {"number": number, "code": code})
    assert response.status_code == 409
    assert event_types(app, number) == ["ISSUED", "REDEEMED"]


def test_card_page_url_is_accepted_as_a_scan(app, ledger, tokens):
    [(number, code)] = issue(ledger)
    console = console_as(app, tokens, "S1")
    response = console.post(
        "/console/counter/redeem", {"number": f"http://127.0.0.1:8000/c/{number}", "code": code}
    )
    assert response.status_code == 200
    assert event_types(app, number)[-1] == "REDEEMED"


def test_number_without_code_shows_the_card_and_waits_for_the_code(app, ledger, tokens):
    [(number, _)] = issue(ledger)
    console = console_as(app, tokens, "S1")
    html = console.post("/console/counter/redeem", {"number": number}).get_data(as_text=True)
    assert 'data-state="ISSUED"' in html
    assert re.search(r'<input id="code"[^>]*autofocus', html)
    assert event_types(app, number) == ["ISSUED"]


def test_wrong_code_says_attempts_left(app, ledger, tokens):
    [(number, code)] = issue(ledger)
    wrong = generate_code()
    console = console_as(app, tokens, "S1")
    response = console.post("/console/counter/redeem", {"number": number, "code": wrong})
    assert response.status_code == 403
    assert "4 attempts left" in response.get_data(as_text=True)
    assert code not in response.get_data(as_text=True)


def test_staff_cannot_redeem_a_card_of_another_store(app, ledger, tokens):
    [(number, code)] = issue(ledger, allowed_stores=["S2"])
    console = console_as(app, tokens, "S1")
    response = console.post("/console/counter/redeem", {"number": number, "code": code})
    assert response.status_code == 403
    assert event_types(app, number) == ["ISSUED"]


def _store_pickup(ledger: Ledger, store: str, with_code: bool = False) -> tuple[str, ...]:
    [(number, code)] = issue(ledger)
    ledger.claim(HQ, number, "holder-1")
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id=store)
    return (number, pickup["pickup_id"], code) if with_code else (number, pickup["pickup_id"])


def test_staff_see_only_their_stores_pickups(app, ledger, tokens):
    _, mine = _store_pickup(ledger, "S1")
    _, theirs = _store_pickup(ledger, "S2")
    html = console_as(app, tokens, "S1").get("/console/counter").get_data(as_text=True)
    assert mine in html
    assert theirs not in html


def test_staff_mark_their_pickup_ready_then_completed(app, ledger, tokens):
    number, pickup, code = _store_pickup(ledger, "S1", with_code=True)
    console = console_as(app, tokens, "S1")
    assert console.post(f"/console/pickups/{pickup}/ready").status_code == 303
    # Without the customer's code the goods stay at the counter; a wrong one is counted.
    assert console.post(f"/console/pickups/{pickup}/complete").status_code == 422
    wrong = console.post(f"/console/pickups/{pickup}/complete", data={"code": "123456"})
    assert wrong.status_code == 403
    done = console.post(
        f"/console/pickups/{pickup}/complete", data={"code": code, "serials": "MT-1001, MT-1002"}
    )
    assert done.status_code == 303
    assert event_types(app, number)[-2:] == ["PICKUP_READY", "PICKUP_COMPLETED"]
    assert pickup not in console.get("/console/counter").get_data(as_text=True)


def test_staff_cannot_act_on_another_stores_pickup(app, ledger, tokens):
    number, pickup = _store_pickup(ledger, "S2")
    console = console_as(app, tokens, "S1")
    assert console.post(f"/console/pickups/{pickup}/ready").status_code == 403
    assert event_types(app, number)[-1] == "PICKUP_REQUESTED"


@pytest.mark.parametrize("path", ["/console/dashboard", "/console/cards", "/console/issue"])
def test_staff_cannot_open_headquarters_pages(app, tokens, path):
    assert console_as(app, tokens, "S1").get(path).status_code == 403


# --- headquarters and auditors ---------------------------------------------------------


def test_hq_dashboard_numbers_match_what_was_done(app, ledger, tokens):
    issued = issue(ledger, 7)
    s1 = Actor("store", "tok_s1", store_id="S1")
    s2 = Actor("store", "tok_s2", store_id="S2")
    for number, code in issued[:3]:
        ledger.redeem(s1, number, code)
    ledger.redeem(s2, *issued[3])
    number, code = issued[4]
    ledger.claim(HQ, number, "holder-2")
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S2")["pickup_id"]
    ledger.pickup_ready(s2, pickup)
    ledger.pickup_complete(s2, pickup, credential="card_code", code=code)
    html = console_as(app, tokens, "hq").get("/console/dashboard").get_data(as_text=True)
    assert re.search(r'id="total-issued">7<', html)
    assert re.search(r'id="total-redeemed">4<', html)
    assert re.search(r'id="total-picked-up">1<', html)
    assert cell(html, 'data-store="S1"', "redeemed") == 3
    assert cell(html, 'data-store="S2"', "redeemed") == 1
    assert cell(html, 'data-store="S2"', "picked-up") == 1
    assert cell(html, 'data-store="none"', "issued") == 7
    # The chart is drawn here, as SVG, with a bar for today's seven issued cards.
    assert re.search(r'<rect [^>]*data-series="issued"[^>]*data-value="7"', html)
    assert "<script" not in html


def test_dashboard_lists_anomalies_and_locked_codes(app, ledger, tokens):
    [(used, code), (locked, _)] = issue(ledger, 2)
    store = Actor("store", "tok_s1", store_id="S1")
    ledger.redeem(store, used, code)
    with pytest.raises(Exception, match="already"):
        ledger.redeem(store, used, code)
    for _ in range(5):
        with pytest.raises(Exception, match="wrong redemption code"):
            ledger.redeem(store, locked, generate_code())
    html = console_as(app, tokens, "hq").get("/console/dashboard").get_data(as_text=True)
    assert 'data-kind="used_card_attempt"' in html
    assert 'data-kind="code_locked"' in html
    locked_section = html.split('id="locked"')[1]
    assert format_card_number(locked) in locked_section
    assert format_card_number(locked) in html.split('id="bursts"')[1]


def test_hq_unlocks_a_locked_code(app, ledger, tokens):
    [(number, code)] = issue(ledger)
    store = Actor("store", "tok_s1", store_id="S1")
    for _ in range(5):
        with pytest.raises(Exception, match="wrong"):
            ledger.redeem(store, number, generate_code())
    assert ledger.get_card(HQ, number)["code_locked_until"] is not None
    console = console_as(app, tokens, "hq")
    assert "Unlock the code" in console.get(f"/console/cards?number={number}").get_data(
        as_text=True
    )
    assert console.post(f"/console/cards/{number}/unlock").status_code == 303
    assert ledger.get_card(HQ, number)["code_locked_until"] is None
    ledger.redeem(store, number, code)


def test_auditor_reads_but_cannot_change_anything(app, ledger, tokens):
    [(number, _)] = issue(ledger)
    console = console_as(app, tokens, "auditor")
    assert console.get("/console/dashboard").status_code == 200
    assert console.get(f"/console/cards?number={number}").status_code == 200
    assert console.get("/console/issue").status_code == 403
    assert console.post(f"/console/cards/{number}/unlock").status_code == 403
    assert (
        console.post("/console/counter/redeem", {"number": number, "code": "x"}).status_code == 403
    )


def test_card_lookup_shows_full_detail(app, ledger, tokens):
    [(number, code)] = issue(ledger, face_value=128000, currency="CNY")
    ledger.redeem(Actor("store", "tok_s1", store_id="S1"), number, code)
    html = (
        console_as(app, tokens, "hq")
        .get(f"/console/cards?number={format_card_number(number).lower()}")
        .get_data(as_text=True)
    )
    assert 'data-state="REDEEMED"' in html
    assert "1280.00 CNY" in html
    assert re.findall(r'<tr data-type="(\w+)"', html) == ["ISSUED", "REDEEMED"]
    assert "上海南京路店" in html
    assert code not in html


@pytest.mark.parametrize(
    "who, page, personal",
    [
        ("hq", "lookup", True),
        ("auditor", "lookup", False),
        ("S1", "counter", False),
        ("S2", "counter", False),
    ],
)
def test_holder_and_address_references_only_reach_headquarters(
    app, ledger, tokens, who, page, personal
):
    [(number, code)] = issue(ledger)
    ledger.claim(HQ, number, "crm-secret-7")
    ledger.request_pickup(HQ, number, "delivery", code, address_ref="addr-secret-1")
    console = console_as(app, tokens, who)
    if page == "lookup":
        response = console.get(f"/console/cards?number={number}")
    else:
        response = console.post("/console/counter/redeem", {"number": number})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-state="PICKUP_REQUESTED"' in html
    assert ("crm-secret-7" in html) is personal
    assert ("addr-secret-1" in html) is personal
    assert ("Holder ref" in html) is personal


def test_the_counter_never_hands_its_template_holder_data(app, ledger, tokens, monkeypatch):
    # The counter shows no holder reference today; this keeps it out of the page's data too.
    [(number, _)] = issue(ledger, holder_ref="crm-secret-8")
    seen = {}
    real = console_module._counter
    monkeypatch.setattr(
        console_module, "_counter", lambda *a, **kw: seen.update(kw) or real(*a, **kw)
    )
    response = console_as(app, tokens, "S1").post("/console/counter/redeem", {"number": number})
    assert response.status_code == 200
    assert seen["card"]["card_number"] == number and "holder_ref" not in seen["card"]


def test_card_lookup_of_a_typo_says_what_is_wrong(app, tokens):
    response = console_as(app, tokens, "hq").get("/console/cards?number=0000")
    assert response.status_code == 422
    assert "never use 0" in response.get_data(as_text=True)


def upload(console: Console, batch_ref: str, body: bytes):
    return console.post(
        "/console/issue",
        {"batch_ref": batch_ref, "file": (io.BytesIO(body), "cards.csv")},
        content_type="multipart/form-data",
    )


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_csv_upload_issues_cards_and_returns_their_codes_once(app, ledger, tokens):
    rows = [
        {
            "row_key": f"r{i}",
            "product": "礼盒 Gift box",
            "face_value": "88800",
            "currency": "CNY",
            "allowed_stores": "S1;S2",
            "expires_at": "2030-01-01T00:00:00Z",
        }
        for i in range(3)
    ]
    console = console_as(app, tokens, "hq")
    size = log_size(app)
    response = console.post(
        "/console/issue",
        {"batch_ref": "SPRING-2027", "file": (io.BytesIO(_csv(rows)), "cards.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    issued = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["row_key"] for row in issued] == ["r0", "r1", "r2"]
    assert log_size(app) == size + 3
    card = ledger.get_card(HQ, issued[0]["card_number"])
    assert card["allowed_stores"] == ["S1", "S2"] and card["face_value"] == 88800
    # Uploaded cards are stock until sold; the code in the answer is the card's code.
    assert card["state"] == "INACTIVE"
    ledger.activate(HQ, issued[0]["card_number"])
    ledger.redeem(
        Actor("store", "tok_s1", store_id="S1"),
        issued[0]["card_number"],
        issued[0]["redemption_code"],
    )
    # The same file again issues nothing twice.
    again = console.post(
        "/console/issue",
        {"batch_ref": "SPRING-2027", "file": (io.BytesIO(_csv(rows)), "cards.csv")},
        content_type="multipart/form-data",
    )
    assert again.headers["X-Cards-Issued"] == "0"
    assert again.headers["X-Cards-Skipped"] == "3"
    assert log_size(app) == size + 5  # three issued, one sold, one redeemed


def test_issued_csv_never_hands_a_spreadsheet_a_formula(app, ledger, tokens):
    rows = [
        {"row_key": '=HYPERLINK("http://evil.example","x")', "product": "Tea"},
        {"row_key": "+1", "product": "Tea"},
        {"row_key": "plain", "product": "Tea"},
    ]
    console = console_as(app, tokens, "hq")
    response = console.post(
        "/console/issue",
        {"batch_ref": "EVIL", "file": (io.BytesIO(_csv(rows)), "cards.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    issued = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["row_key"] for row in issued] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1",
        "plain",
    ]


def test_csv_with_a_bad_row_issues_nothing_and_names_its_line(app, ledger, tokens):
    rows = [
        {"row_key": "a", "product": "Good", "face_value": "100", "currency": "CNY"},
        {"row_key": "b", "product": "Bad", "face_value": "100", "currency": "cny"},
    ]
    console = console_as(app, tokens, "hq")
    size = log_size(app)
    response = upload(console, "B", _csv(rows))
    assert response.status_code == 422
    assert "line 3: currency" in response.get_data(as_text=True)
    assert log_size(app) == size


def test_csv_without_row_keys_is_refused(app, ledger, tokens):
    console = console_as(app, tokens, "hq")
    response = upload(console, "B", b"product\nTea\n")
    assert response.status_code == 422
    assert "row_key" in response.get_data(as_text=True)


def test_csv_upload_needs_csrf(app, ledger, tokens):
    console = console_as(app, tokens, "hq")
    size = log_size(app)
    response = console.client.post(
        "/console/issue",
        data={"batch_ref": "B", "file": (io.BytesIO(b"product\nTea\n"), "cards.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert log_size(app) == size
