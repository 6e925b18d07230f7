"""The console's stores and stock pages, low-stock warnings on the dashboard, and staff
names in the console header (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from anchoring.db import read_transaction, write_transaction
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.schema import products, stock
from ledger_service.service import Ledger
from portal.console import CSRF_KEY

HQ = Actor("hq", "tok_console_stores")


class Console:
    """A browser-like client of /console, signed in with one token."""

    def __init__(self, app, token: str) -> None:
        self.client = app.test_client()
        self.client.get("/console/login")
        signed_in = self.client.post(
            "/console/login", data={"token": token, "csrf_token": self.csrf()}
        )
        assert signed_in.status_code == 303

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            return str(session.get(CSRF_KEY, ""))

    def post(self, path: str, data: dict[str, Any] | None = None, **kw):
        return self.client.post(path, data={"csrf_token": self.csrf(), **(data or {})}, **kw)


@pytest.fixture
def ledger(app) -> Ledger:
    rt = app.extensions["cardtrail"]
    led = Ledger(rt.engine, rt.secret_key)
    led.create_store(HQ, "SH01", "南京路店", "east")
    with write_transaction(rt.engine) as conn:
        conn.execute(
            sa.insert(products),
            {
                "sku": "MT500",
                "name_zh": "茅台",
                "name_en": "Moutai",
                "kind": "pickup",
                "units": 1,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )
    return led


def token(app, role: str, store: str | None = None, name: str | None = None) -> str:
    rt = app.extensions["cardtrail"]
    return create_token(rt.engine, rt.secret_key, role, store, name).token


def stock_row(app, store_id: str = "SH01", sku: str = "MT500"):
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        return conn.execute(
            sa.select(stock).where(stock.c.store_id == store_id, stock.c.sku == sku)
        ).first()


def test_the_header_names_the_staff_member_not_the_token(app, ledger):
    console = Console(app, token(app, "store", "SH01", name="张三"))
    page = console.client.get("/console/counter").get_data(as_text=True)
    assert "SH01 · 张三" in page
    unnamed = Console(app, token(app, "hq"))
    assert "tok_" in unnamed.client.get("/console/dashboard").get_data(as_text=True)


def test_headquarters_describes_a_store_from_the_console(app, ledger):
    console = Console(app, token(app, "hq"))
    form = {
        "store_id": "SH01",
        "existing": "1",
        "name": "南京路店",
        "region": "east",
        "city": "上海",
        "address": "南京东路 100 号",
        "opening_hours": "10:00-22:00",
        "latitude": "31.24",
        "longitude": "121.49",
    }
    response = console.post("/console/stores", form)
    assert response.status_code == 303
    [store] = ledger.list_stores(HQ)
    assert (store["city"], store["latitude"]) == ("上海", 31.24)
    page = console.client.get("/console/stores").get_data(as_text=True)
    assert "南京东路 100 号" in page
    bad = console.post("/console/stores", {**form, "latitude": "north"})
    assert bad.status_code == 422


def test_headquarters_sets_stock_and_the_dashboard_warns_when_low(app, ledger):
    console = Console(app, token(app, "hq"))
    saved = console.post(
        "/console/stock", {"store_id": "SH01", "sku": "MT500", "on_hand": "2", "low_water": "3"}
    )
    assert saved.status_code == 303
    assert (stock_row(app).on_hand, stock_row(app).low_water) == (2, 3)
    dashboard = console.client.get("/console/dashboard").get_data(as_text=True)
    assert 'id="low-stock"' in dashboard and 'data-sku="MT500"' in dashboard
    console.post("/console/stock", {"store_id": "SH01", "sku": "MT500", "on_hand": "20"})
    dashboard = console.client.get("/console/dashboard").get_data(as_text=True)
    assert 'data-sku="MT500"' not in dashboard


def test_stock_csv_downloads_with_bom_and_uploads_again(app, ledger):
    console = Console(app, token(app, "hq"))
    ledger.set_stock(HQ, "SH01", "MT500", on_hand=4, low_water=1)
    download = console.client.get("/console/stock.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    raw = download.get_data()
    assert raw.startswith("\ufeff".encode())
    edited = raw.decode("utf-8").replace("SH01,MT500,4,1", "SH01,MT500,9,2").encode("utf-8")
    upload = console.post(
        "/console/stock/import",
        {"file": (io.BytesIO(edited), "stock.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 303
    assert (stock_row(app).on_hand, stock_row(app).low_water) == (9, 2)
    wrong = b"store_id,sku,on_hand\nSH01,MT500,1\nNOPE,MT500,1\n"
    refused = console.post(
        "/console/stock/import",
        {"file": (io.BytesIO(wrong), "s.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 404 and "line 3" in refused.get_data(as_text=True)
    assert stock_row(app).on_hand == 9, "all lines or none"


def test_stores_and_stock_are_headquarters_changes_auditors_read(app, ledger):
    auditor = Console(app, token(app, "auditor"))
    assert auditor.client.get("/console/stores").status_code == 200
    assert auditor.post("/console/stock", {"store_id": "SH01", "sku": "MT500"}).status_code == 403
    store = Console(app, token(app, "store", "SH01"))
    assert store.client.get("/console/stores").status_code == 403
    assert store.client.get("/console/stock.csv").status_code == 403


def test_headquarters_names_a_token_in_the_console_and_the_header_follows(app, ledger):
    staff = token(app, "store", "SH01")
    staff_id = staff.split("_")[1]
    hq = Console(app, token(app, "hq"))
    assert staff_id in hq.client.get("/console/tokens").get_data(as_text=True)
    saved = hq.post(f"/console/tokens/{staff_id}/name", {"name": "张三"})
    assert saved.status_code == 303
    page = Console(app, staff).client.get("/console/counter").get_data(as_text=True)
    assert "SH01 · 张三" in page
    assert hq.post(f"/console/tokens/{staff_id}/name", {"name": "x" * 65}).status_code == 422
    assert hq.post("/console/tokens/000000000000/name", {"name": "x"}).status_code == 404
    assert Console(app, staff).client.get("/console/tokens").status_code == 403
