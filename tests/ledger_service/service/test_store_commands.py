"""Stores: created once by headquarters, listed for every reader."""

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
    assert listed[0] == {"id": "A0", "name": "First by id", "region": "west"}
    assert ledger.list_stores(STORE1) == listed


def test_a_refused_store_writes_nothing(ledger, stores):
    with pytest.raises(errors.StoreExists):
        ledger.create_store(HQ, "S1", "Again", "south")
    assert [(s["id"], s["region"]) for s in ledger.list_stores(HQ) if s["id"] == "S1"] == [
        ("S1", "north")
    ]
