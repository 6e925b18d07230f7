"""Pickups: requested with the code, readied and completed by their store, deliveries shipped."""

from __future__ import annotations

import pytest
from ledger_helpers import HQ, STORE1, STORE3, assert_refused_without_writing, issue

from ledger_service import errors


def test_a_delivery_pickup_is_shipped_then_completed_by_headquarters(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust")
    pickup = ledger.request_pickup(HQ, number, "delivery", code, address_ref="addr-9")
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.pickup_ready, HQ, pickup["pickup_id"]
    )
    assert ledger.pickup_ship(HQ, pickup["pickup_id"])["state"] == "PICKUP_SHIPPED"
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.pickup_complete, STORE1, pickup["pickup_id"]
    )
    assert ledger.pickup_complete(HQ, pickup["pickup_id"])["state"] == "PICKUP_COMPLETED"
    assert_refused_without_writing(ledger, errors.CardAlreadyUsed, ledger.redeem, HQ, number, code)


def test_a_card_with_a_pickup_requested_cannot_be_redeemed(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust")
    ledger.request_pickup(HQ, number, "store", code, store_id="S1")
    assert_refused_without_writing(
        ledger, errors.CardAlreadyUsed, ledger.redeem, STORE1, number, code
    )
    assert_refused_without_writing(
        ledger,
        errors.CardAlreadyUsed,
        ledger.request_pickup,
        HQ,
        number,
        "delivery",
        code,
        address_ref="a",
    )


def test_an_unknown_pickup_is_not_found(ledger):
    with pytest.raises(errors.PickupNotFound):
        ledger.pickup_ready(HQ, "pk_nothing")


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("teleport", {"store_id": "S1"}),
        ("store", {}),
        ("store", {"store_id": "S1", "address_ref": "a"}),
        ("delivery", {}),
        ("delivery", {"store_id": "S1", "address_ref": "a"}),
    ],
)
def test_request_pickup_checks_its_arguments(ledger, stores, mode, kwargs):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust")
    assert_refused_without_writing(
        ledger, errors.ValidationFailed, ledger.request_pickup, HQ, number, mode, code, **kwargs
    )


def test_store_staff_handle_only_their_own_stores_pickups(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust")
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S3")
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.pickup_ready, STORE1, pickup["pickup_id"]
    )
    assert ledger.pickup_ready(STORE3, pickup["pickup_id"])["state"] == "PICKUP_READY"
    assert_refused_without_writing(
        ledger, errors.Forbidden, ledger.pickup_ship, STORE3, pickup["pickup_id"]
    )
    assert ledger.pickup_complete(STORE3, pickup["pickup_id"])["state"] == "PICKUP_COMPLETED"
