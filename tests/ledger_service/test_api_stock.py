"""The stores' description and stock routes of the merchant API (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from anchoring.db import write_transaction
from ledger_service.problems import PROBLEM_JSON
from ledger_service.schema import products


def add_product(app, sku: str = "MT500") -> str:
    """A pickup product in the catalogue (its API belongs to another module)."""
    with write_transaction(app.extensions["cardtrail"].engine) as conn:
        conn.execute(
            sa.insert(products),
            {
                "sku": sku,
                "name_zh": "茅台 500ml",
                "name_en": "Moutai 500ml",
                "kind": "pickup",
                "units": 1,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )
    return sku


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["code"] == code


def test_a_store_is_created_and_described_with_its_place(api):
    body = {
        "store_id": "SH01",
        "name": "南京路店",
        "region": "east",
        "address": "南京东路 100 号",
        "city": "上海",
        "opening_hours": "10:00-22:00",
        "latitude": 31.24,
        "longitude": 121.49,
    }
    created = api.post("/stores", body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json() == body
    changed = api.post("/stores/SH01", {"opening_hours": "09:00-21:00", "latitude": None})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json() == {**body, "opening_hours": "09:00-21:00", "latitude": None}
    listed = {s["store_id"]: s for s in api.get("/stores", who="S1").get_json()["stores"]}
    assert listed["SH01"] == changed.get_json()


def test_describing_a_store_is_for_headquarters_and_checked(api):
    refused(api.post("/stores/S1", {"city": "北京"}, who="S1"), 403, "FORBIDDEN")
    refused(api.post("/stores/S9", {"city": "北京"}), 404, "STORE_NOT_FOUND")
    refused(api.post("/stores/S1", {"latitude": 100}), 422, "VALIDATION_FAILED")
    refused(api.post("/stores/S1", {"store_id": "S2"}), 422, "VALIDATION_FAILED")


def test_headquarters_sets_and_adjusts_stock_and_every_reader_lists_it(api, app):
    sku = add_product(app)
    response = api.post(f"/stores/S1/stock/{sku}", {"on_hand": 12, "low_water": 3})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "store_id": "S1",
        "sku": sku,
        "on_hand": 12,
        "reserved": 0,
        "available": 12,
        "low_water": 3,
    }
    assert api.post(f"/stores/S2/stock/{sku}", {"on_hand": 1}).status_code == 200
    adjusted = api.post(f"/stores/S1/stock/{sku}/adjust", {"delta": -2})
    assert adjusted.get_json()["on_hand"] == 10
    everything = api.get("/stock", who="auditor").get_json()["stock"]
    assert [(s["store_id"], s["on_hand"]) for s in everything] == [("S1", 10), ("S2", 1)]
    own = api.get("/stock", who="S2").get_json()["stock"]
    assert [s["store_id"] for s in own] == ["S2"], "a store token sees its own store only"
    assert [s["store_id"] for s in api.get("/stock?store_id=S1").get_json()["stock"]] == ["S1"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/stores/S9/stock/MT500", {"on_hand": 1}, 404, "STORE_NOT_FOUND"),
        ("/stores/S1/stock/NOPE", {"on_hand": 1}, 404, "PRODUCT_NOT_FOUND"),
        ("/stores/S1/stock/MT500", {"on_hand": -1}, 422, "VALIDATION_FAILED"),
        ("/stores/S1/stock/MT500/adjust", {"delta": -1}, 422, "VALIDATION_FAILED"),
        ("/stores/S1/stock/MT500/adjust", {"delta": 0}, 422, "VALIDATION_FAILED"),
    ],
)
def test_bad_stock_changes_are_refused(api, app, path, body, status, code):
    add_product(app)
    refused(api.post(path, body), status, code)
    assert api.get("/stock").get_json()["stock"] == []


def test_stock_is_set_by_headquarters_only(api, app):
    sku = add_product(app)
    for who in ("S1", "auditor"):
        refused(api.post(f"/stores/S1/stock/{sku}", {"on_hand": 5}, who=who), 403, "FORBIDDEN")
