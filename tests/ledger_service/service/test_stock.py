"""Stock per store and product: reserve, release and consume for pickups, and
headquarters setting what is on hand (API-free: the Ledger and the module's functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from ledger_helpers import AUDITOR, HQ, STORE1

from anchoring.db import read_transaction, write_transaction
from ledger_service import errors
from ledger_service.schema import products
from ledger_service.service import stock


def add_product(ledger, sku: str = "MT500") -> str:
    """A pickup product in the catalogue (the products API is another module's)."""
    with write_transaction(ledger._engine) as conn:
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


@pytest.fixture
def sku(ledger, stores) -> str:
    return add_product(ledger)


def line(ledger, store_id="S1", sku="MT500"):
    with read_transaction(ledger._engine) as conn:
        [found] = stock.stock_lines(conn, store_id=store_id, sku=sku)
    return found


def step(ledger, function, *args, **kwargs) -> None:
    with write_transaction(ledger._engine) as conn:
        function(conn, *args, **kwargs)


def test_reserve_release_and_consume_move_the_counts(ledger, sku):
    ledger.set_stock(HQ, "S1", sku, on_hand=3)
    step(ledger, stock.reserve, "S1", sku, 2)
    assert (line(ledger).on_hand, line(ledger).reserved, line(ledger).available) == (3, 2, 1)
    step(ledger, stock.release, "S1", sku)
    assert (line(ledger).reserved, line(ledger).available) == (1, 2)
    step(ledger, stock.consume, "S1", sku)
    assert (line(ledger).on_hand, line(ledger).reserved, line(ledger).available) == (2, 0, 2)


def test_reserving_more_than_is_available_is_refused_and_changes_nothing(ledger, sku):
    ledger.set_stock(HQ, "S1", sku, on_hand=2)
    step(ledger, stock.reserve, "S1", sku, 2)
    with pytest.raises(errors.OutOfStock):
        step(ledger, stock.reserve, "S1", sku)
    assert (line(ledger).on_hand, line(ledger).reserved) == (2, 2)


def test_a_store_without_a_stock_line_is_out_of_stock(ledger, sku):
    with pytest.raises(errors.OutOfStock):
        step(ledger, stock.reserve, "S2", sku)


def test_release_and_consume_need_a_reservation(ledger, sku):
    ledger.set_stock(HQ, "S1", sku, on_hand=5)
    with pytest.raises(errors.OutOfStock):
        step(ledger, stock.release, "S1", sku)
    with pytest.raises(errors.OutOfStock):
        step(ledger, stock.consume, "S1", sku)
    assert (line(ledger).on_hand, line(ledger).reserved) == (5, 0)


@pytest.mark.parametrize("n", [0, -1, True, 1.5])
def test_units_must_be_a_positive_integer(ledger, sku, n):
    ledger.set_stock(HQ, "S1", sku, on_hand=5)
    with pytest.raises(errors.ValidationFailed):
        step(ledger, stock.reserve, "S1", sku, n)


def test_headquarters_sets_and_adjusts_stock(ledger, sku):
    assert ledger.set_stock(HQ, "S1", sku, on_hand=10, low_water=3) == {
        "store_id": "S1",
        "sku": sku,
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "low_water": 3,
    }
    assert ledger.adjust_stock(HQ, "S1", sku, -4)["on_hand"] == 6
    assert ledger.set_stock(HQ, "S1", sku, low_water=1)["on_hand"] == 6, "on_hand kept"
    assert [s["store_id"] for s in ledger.list_stock(AUDITOR, sku=sku)] == ["S1"]


def test_on_hand_never_falls_below_what_pickups_reserved(ledger, sku):
    ledger.set_stock(HQ, "S1", sku, on_hand=3)
    step(ledger, stock.reserve, "S1", sku, 2)
    with pytest.raises(errors.ValidationFailed):
        ledger.set_stock(HQ, "S1", sku, on_hand=1)
    with pytest.raises(errors.ValidationFailed):
        ledger.adjust_stock(HQ, "S1", sku, -2)
    assert line(ledger).on_hand == 3


def test_unknown_store_or_product_and_other_roles_are_refused(ledger, sku):
    with pytest.raises(errors.StoreNotFound):
        ledger.set_stock(HQ, "S9", sku, on_hand=1)
    with pytest.raises(errors.ProductNotFound):
        ledger.set_stock(HQ, "S1", "NOPE", on_hand=1)
    for who in (AUDITOR, STORE1):
        with pytest.raises(errors.Forbidden):
            ledger.set_stock(who, "S1", sku, on_hand=1)
    with pytest.raises(errors.ValidationFailed):
        ledger.set_stock(HQ, "S1", sku, on_hand=-1)
    with read_transaction(ledger._engine) as conn:
        assert stock.stock_lines(conn) == []


def test_a_store_token_lists_only_its_own_stock(ledger, sku):
    ledger.set_stock(HQ, "S1", sku, on_hand=1)
    ledger.set_stock(HQ, "S2", sku, on_hand=1)
    assert [s["store_id"] for s in ledger.list_stock(STORE1)] == ["S1"]
    assert [s["store_id"] for s in ledger.list_stock(HQ)] == ["S1", "S2"]


def test_low_stock_lists_lines_at_or_below_their_mark(ledger, sku):
    ledger.set_stock(HQ, "S1", sku, on_hand=5, low_water=2)
    ledger.set_stock(HQ, "S2", sku, on_hand=2, low_water=2)
    ledger.set_stock(HQ, "S3", sku, on_hand=0, low_water=0)
    with read_transaction(ledger._engine) as conn:
        assert [(s.store_id, s.available) for s in stock.low_stock(conn)] == [("S3", 0), ("S2", 2)]


def test_pickup_stores_have_stock_left_and_are_grouped_by_city(ledger, sku):
    ledger.update_store(HQ, "S1", {"city": "上海", "address": "南京东路 1 号"})
    ledger.update_store(HQ, "S2", {"city": "北京"})
    ledger.update_store(HQ, "S3", {"city": "上海"})
    ledger.set_stock(HQ, "S1", sku, on_hand=1)
    ledger.set_stock(HQ, "S2", sku, on_hand=0)
    ledger.set_stock(HQ, "S3", sku, on_hand=4)
    with read_transaction(ledger._engine) as conn:
        step(ledger, stock.reserve, "S1", sku)  # the last one at S1
        grouped = stock.by_city(stock.pickup_stores(conn, sku))
    assert [(g["city"], [s["store_id"] for s in g["stores"]]) for g in grouped] == [
        ("上海", ["S3"])
    ]
    assert grouped[0]["stores"][0]["available"] == 4


def test_the_csv_round_trips_with_bom_and_neutralised_cells(ledger, sku):
    add_product(ledger, "=cmd")
    ledger.set_stock(HQ, "S1", sku, on_hand=7, low_water=2)
    ledger.set_stock(HQ, "S1", "=cmd", on_hand=1)
    with read_transaction(ledger._engine) as conn:
        text = stock.stock_csv(stock.stock_lines(conn))
    assert text.startswith("\ufeffstore_id,sku,on_hand,low_water,reserved,available\r\n")
    assert "S1,'=cmd,1,0,0,1" in text
    edited = text.replace("S1,MT500,7,2", "S1,MT500,9,3")
    assert ledger.import_stock(HQ, stock.read_stock_csv(edited)) == 2
    assert (line(ledger).on_hand, line(ledger).low_water) == (9, 3)
    assert line(ledger, sku="=cmd").on_hand == 1


def test_a_csv_import_is_all_or_nothing_and_names_the_line(ledger, sku):
    ledger.set_stock(HQ, "S1", sku, on_hand=1)
    text = "store_id,sku,on_hand,low_water\nS1,MT500,5,\nS9,MT500,3,1\n"
    with pytest.raises(errors.StoreNotFound, match="line 3"):
        ledger.import_stock(HQ, stock.read_stock_csv(text))
    assert line(ledger).on_hand == 1
    with pytest.raises(ValueError, match="line 2"):
        list(stock.read_stock_csv("store_id,sku,on_hand\nS1,MT500,lots\n"))
    with pytest.raises(ValueError, match="header"):
        list(stock.read_stock_csv("a,b\n1,2\n"))


def test_a_pickup_reserves_the_units_of_its_product(ledger, sku):
    with read_transaction(ledger._engine) as conn:
        assert stock.product_units(conn, sku) == 1
        with pytest.raises(errors.ProductNotFound):
            stock.product_units(conn, "NOPE")
