"""Stores: created once by headquarters, described, listed for every reader."""

from __future__ import annotations

import pytest
from ledger_helpers import AUDITOR, HQ, STORE1

from ledger_service import errors


def test_a_store_id_is_created_once(ledger, stores):
    with pytest.raises(errors.StoreExists):
        ledger.create_store(HQ, "S1", "Again", "north")
    with pytest.raises(errors.ValidationFailed):
        ledger.create_store(HQ, "bad id!", "Name", "north")


def test_every_reader_lists_the_stores_by_id(ledger, stores):
    ledger.create_store(HQ, "A0", "First by id", "west")
    listed = ledger.list_stores(AUDITOR)
    assert [s["id"] for s in listed] == ["A0", "S1", "S2", "S3"]
    assert listed[0] == {
        "id": "A0",
        "name": "First by id",
        "region": "west",
        "address": None,
        "city": None,
        "opening_hours": None,
        "latitude": None,
        "longitude": None,
    }
    assert ledger.list_stores(STORE1) == listed


def test_a_refused_store_writes_nothing(ledger, stores):
    with pytest.raises(errors.StoreExists):
        ledger.create_store(HQ, "S1", "Again", "south")
    assert [(s["id"], s["region"]) for s in ledger.list_stores(HQ) if s["id"] == "S1"] == [
        ("S1", "north")
    ]


def test_a_store_has_an_address_city_hours_and_coordinates(ledger, stores):
    created = ledger.create_store(
        HQ,
        "SH01",
        "南京路店",
        "east",
        address="上海市黄浦区南京东路 100 号",
        city="上海",
        opening_hours="10:00-22:00",
        latitude=31.2397,
        longitude=121.4905,
    )
    assert (created["city"], created["latitude"], created["longitude"]) == (
        "上海",
        31.2397,
        121.4905,
    )
    changed = ledger.update_store(HQ, "SH01", {"opening_hours": "09:00-21:00", "latitude": None})
    assert changed["opening_hours"] == "09:00-21:00"
    assert changed["address"] == "上海市黄浦区南京东路 100 号", "fields not named are kept"
    assert changed["latitude"] is None
    assert [s for s in ledger.list_stores(STORE1) if s["id"] == "SH01"] == [changed]


@pytest.mark.parametrize(
    "changes",
    [{"latitude": 90.5}, {"longitude": "121"}, {"name": "  "}, {"city": "x" * 65}, {"id": "X"}],
)
def test_bad_store_fields_are_refused_and_change_nothing(ledger, stores, changes):
    before = ledger.list_stores(HQ)
    with pytest.raises(errors.ValidationFailed):
        ledger.update_store(HQ, "S1", changes)
    assert ledger.list_stores(HQ) == before


def test_only_headquarters_describes_an_existing_store(ledger, stores):
    with pytest.raises(errors.Forbidden):
        ledger.update_store(STORE1, "S1", {"city": "北京"})
    with pytest.raises(errors.StoreNotFound):
        ledger.update_store(HQ, "S9", {"city": "北京"})
