"""Store pickups draw on the store's stock: a request holds the product's units, a cancel
gives them back, a move takes them along, a completion takes them off the shelf and
indexes the bottle serials handed over."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from ledger_helpers import HQ, STORE1

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.schema import serials as serials_table
from ledger_service.schema import stock as stock_table


@pytest.fixture
def six_bottle_card(ledger, stores):
    """A sold pickup card for a case of 6 bottles; S1 has 13 on hand, S2 has 6."""
    ledger.create_product(HQ, "MT-CASE", "茅台整箱", "Moutai case", "pickup", units=6)
    ledger.set_stock(HQ, "S1", "MT-CASE", on_hand=13)
    ledger.set_stock(HQ, "S2", "MT-CASE", on_hand=6)
    [card] = ledger.issue_cards(HQ, "B-STOCK", [{"sku": "MT-CASE"}], active=True)["cards"]
    return card["card_number"], card["redemption_code"]


def _stock(ledger, store_id: str) -> tuple[int, int]:
    with read_transaction(ledger._engine) as conn:
        row = conn.execute(
            sa.select(stock_table.c.on_hand, stock_table.c.reserved).where(
                stock_table.c.store_id == store_id, stock_table.c.sku == "MT-CASE"
            )
        ).one()
    return row.on_hand, row.reserved


def _request(ledger, card, store_id="S1"):
    number, code = card
    return ledger.request_pickup(HQ, number, "store", code, store_id)


def test_a_request_holds_the_units_and_a_cancel_gives_them_back(ledger, six_bottle_card):
    pickup = _request(ledger, six_bottle_card)
    assert _stock(ledger, "S1") == (13, 6)
    ledger.cancel_pickup(HQ, pickup["pickup_id"])
    assert _stock(ledger, "S1") == (13, 0)


def test_a_move_takes_the_units_to_the_new_store(ledger, six_bottle_card):
    pickup = _request(ledger, six_bottle_card)
    ledger.move_pickup(HQ, pickup["pickup_id"], "S2")
    assert (_stock(ledger, "S1"), _stock(ledger, "S2")) == ((13, 0), (6, 6))


def test_a_store_without_enough_stock_cannot_be_chosen_and_nothing_is_logged(
    ledger, six_bottle_card
):
    ledger.set_stock(HQ, "S1", "MT-CASE", on_hand=5)
    with pytest.raises(errors.OutOfStock):
        _request(ledger, six_bottle_card)
    assert _stock(ledger, "S1") == (5, 0)
    assert ledger.get_card(HQ, six_bottle_card[0])["state"] == "ISSUED"


def test_completion_consumes_the_units_and_indexes_the_serials(ledger, six_bottle_card):
    number, code = six_bottle_card
    pickup = _request(ledger, six_bottle_card)
    ledger.pickup_ready(STORE1, pickup["pickup_id"])
    done = ledger.pickup_complete(
        STORE1,
        pickup["pickup_id"],
        credential="card_code",
        code=code,
        serials=["mt2026-000001", "MT2026-000002"],
    )
    assert _stock(ledger, "S1") == (7, 0)
    with read_transaction(ledger._engine) as conn:
        indexed = conn.execute(sa.select(serials_table)).all()
    assert {(r.serial, r.leaf_index) for r in indexed} == {
        ("MT2026-000001", done["leaf_index"]),
        ("MT2026-000002", done["leaf_index"]),
    }
