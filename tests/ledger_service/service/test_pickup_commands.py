"""Pickups: requested with the code, readied and completed by their store against the
customer's credential, deliveries reviewed, shipped and delivered; cancels and moves."""

from __future__ import annotations

import json

import pytest
from ledger_helpers import HQ, STORE1, STORE3, assert_refused_without_writing, issue, rows

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service import errors
from ledger_service.actor import CUSTOMER
from ledger_service.domain import pickups as rules
from ledger_service.schema import cards, code_failures, pickups


def _event(ledger, leaf_index):
    with read_transaction(ledger._engine) as conn:
        return json.loads(MerkleLog(conn).leaf_input(leaf_index))


def _code_now(ledger, pickup_id):
    secret = rules.pickup_secret(ledger._secret, pickup_id)
    return rules.rotating_code(secret, ledger._now())


def test_a_delivery_pickup_is_reviewed_shipped_then_completed_by_headquarters(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust")
    pickup = ledger.request_pickup(HQ, number, "delivery", code, address_ref="addr-9")
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.pickup_ready, HQ, pickup["pickup_id"]
    )
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.pickup_ship, HQ, pickup["pickup_id"], "SF", "1"
    )
    assert ledger.pickup_review(HQ, pickup["pickup_id"])["state"] == "PICKUP_REVIEWED"
    shipped = ledger.pickup_ship(HQ, pickup["pickup_id"], "SF Express", "SF1234567890")
    assert shipped["state"] == "PICKUP_SHIPPED"
    data = _event(ledger, shipped["leaf_index"])["data"]
    assert data["carrier"] == "SF Express"
    assert "SF1234567890" not in json.dumps(data)
    [row] = rows(ledger, pickups, pickups.c.id == pickup["pickup_id"])
    assert data["tracking_hash"] == rules.tracking_hash(bytes(row.tracking_salt), "SF1234567890")
    assert row.tracking_number == "SF1234567890"
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
        ledger, errors.Forbidden, ledger.pickup_ship, STORE3, pickup["pickup_id"], "SF", "1"
    )
    done = ledger.pickup_complete(
        STORE3, pickup["pickup_id"], credential="card_code", code=code, serials=["MT-0001"]
    )
    assert done["state"] == "PICKUP_COMPLETED"


def test_a_bearer_card_requests_a_store_pickup_with_its_code_alone(ledger, stores):
    number, code = issue(ledger)
    asked = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1", day="2026-11-25")
    event = _event(ledger, asked["leaf_index"])
    assert event["actor"] == {"role": "customer", "id": "card"}
    assert event["data"] == {
        "pickup_id": asked["pickup_id"],
        "mode": "store",
        "day": "2026-11-25",
        "address_hash": None,
    }
    assert asked["access_key"] == ledger.pickup_access_key(asked["pickup_id"])


def test_a_wrong_code_for_a_pickup_request_counts_toward_the_lockout(ledger, stores):
    number, _ = issue(ledger)
    failure = assert_refused_without_writing(
        ledger,
        errors.InvalidCode,
        ledger.request_pickup,
        CUSTOMER,
        number,
        "store",
        "AAAA-AAAA-AAAA",
        store_id="S1",
    )
    assert failure.extra["attempts_left"] == 4


def test_a_delivery_address_is_sealed_and_only_its_salted_hash_is_logged(ledger, stores):
    number, code = issue(ledger)
    address = "上海市黄浦区南京东路 1 号"
    asked = ledger.request_pickup(CUSTOMER, number, "delivery", code, address=address)
    [row] = rows(ledger, pickups, pickups.c.id == asked["pickup_id"])
    assert address.encode() not in bytes(row.address_sealed)
    assert row.address_ref is None
    data = _event(ledger, asked["leaf_index"])["data"]
    assert data["address_hash"] == rules.address_hash(bytes(row.address_salt), address)
    assert ledger.delivery_address(HQ, asked["pickup_id"]) == address
    with pytest.raises(errors.Forbidden):
        ledger.delivery_address(STORE1, asked["pickup_id"])


@pytest.mark.parametrize("claimed", [False, True])
def test_a_cancelled_pickup_returns_the_card_to_where_it_was(ledger, stores, claimed):
    number, code = issue(ledger)
    if claimed:
        ledger.claim(HQ, number, "cust")
    pickup = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")["pickup_id"]
    assert_refused_without_writing(
        ledger, errors.ValidationFailed, ledger.cancel_pickup, CUSTOMER, pickup
    )
    done = ledger.cancel_pickup(CUSTOMER, pickup, code)
    assert done["state"] == ("CLAIMED" if claimed else "ISSUED")
    assert rows(ledger, pickups, pickups.c.id == pickup)[0].state == "PICKUP_CANCELLED"
    # The card is usable again: a new pickup, then it cannot be cancelled once ready.
    again = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")["pickup_id"]
    ledger.pickup_ready(STORE1, again)
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.cancel_pickup, CUSTOMER, again, code
    )


def test_a_store_pickup_moves_to_another_store_and_day_before_it_is_ready(ledger, stores):
    number, code = issue(ledger, allowed_regions=["north"])
    pickup = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")["pickup_id"]
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.move_pickup, CUSTOMER, pickup, "S3", None, code
    )
    moved = ledger.move_pickup(CUSTOMER, pickup, "S2", "2026-11-27", code)
    event = _event(ledger, moved["leaf_index"])
    assert (event["type"], event["store_id"], event["data"]) == (
        "PICKUP_MOVED",
        "S2",
        {"pickup_id": pickup, "day": "2026-11-27"},
    )
    [row] = rows(ledger, pickups, pickups.c.id == pickup)
    assert (row.store_id, row.day, row.state) == ("S2", "2026-11-27", "PICKUP_REQUESTED")
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.pickup_ready, STORE1, pickup
    )


def test_a_store_pickup_is_completed_with_the_rotating_code_and_serials(ledger, stores, clock):
    number, code = issue(ledger)
    pickup = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")["pickup_id"]
    ledger.pickup_ready(STORE1, pickup)
    assert_refused_without_writing(
        ledger, errors.ValidationFailed, ledger.pickup_complete, STORE1, pickup
    )
    shown = _code_now(ledger, pickup)
    clock.advance(seconds=30)
    done = ledger.pickup_complete(
        STORE1, pickup, credential="rotating_code", code=shown, serials=["mt-2026-000001"]
    )
    data = _event(ledger, done["leaf_index"])["data"]
    assert data == {
        "pickup_id": pickup,
        "credential": "rotating_code",
        "serials": ["MT-2026-000001"],
    }
    [row] = rows(ledger, pickups, pickups.c.id == pickup)
    assert (row.credential, json.loads(row.serials)) == ("rotating_code", ["MT-2026-000001"])


def test_an_old_or_wrong_rotating_code_is_refused_and_counted(ledger, stores, clock):
    number, code = issue(ledger)
    pickup = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")["pickup_id"]
    ledger.pickup_ready(STORE1, pickup)
    old = _code_now(ledger, pickup)
    clock.advance(seconds=90)
    for _ in range(5):
        with pytest.raises(errors.InvalidCode):
            ledger.pickup_complete(STORE1, pickup, credential="rotating_code", code=old)
    assert rows(ledger, cards, cards.c.number == number)[0].code_locked_until is not None
    assert len(rows(ledger, code_failures, code_failures.c.card_number == number)) == 5
    # Locked: even the right code waits, as for redemption.
    with pytest.raises(errors.CodeLocked):
        ledger.pickup_complete(
            STORE1, pickup, credential="rotating_code", code=_code_now(ledger, pickup)
        )


def test_bad_serials_are_refused_before_anything_runs(ledger, stores):
    number, code = issue(ledger)
    pickup = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")["pickup_id"]
    ledger.pickup_ready(STORE1, pickup)
    assert_refused_without_writing(
        ledger,
        errors.ValidationFailed,
        ledger.pickup_complete,
        STORE1,
        pickup,
        credential="card_code",
        code=code,
        serials=["no spaces allowed"],
    )


def test_the_pickup_page_shows_the_code_only_with_its_key_and_while_it_waits(ledger, stores):
    number, code = issue(ledger)
    asked = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")
    pickup = asked["pickup_id"]
    with pytest.raises(errors.PickupNotFound):
        ledger.pickup_progress(pickup, "0" * 32)
    shown = ledger.pickup_progress(pickup, asked["access_key"])
    assert shown["rotating_code"] == _code_now(ledger, pickup)
    assert 1 <= shown["code_seconds_left"] <= 30
    ledger.pickup_ready(STORE1, pickup)
    ledger.pickup_complete(STORE1, pickup, credential="card_code", code=code)
    done = ledger.pickup_progress(pickup, asked["access_key"])
    assert done["state"] == "PICKUP_COMPLETED" and "rotating_code" not in done


def test_a_store_device_gets_the_code_secrets_of_its_ready_pickups_only(ledger, stores):
    number, code = issue(ledger)
    other, other_code = issue(ledger)
    mine = ledger.request_pickup(CUSTOMER, number, "store", code, store_id="S1")["pickup_id"]
    ledger.request_pickup(CUSTOMER, other, "store", other_code, store_id="S3")
    assert ledger.ready_pickups(STORE1) == []
    ledger.pickup_ready(STORE1, mine)
    [ready] = ledger.ready_pickups(STORE1)
    assert ready["pickup_id"] == mine
    assert ready["code_secret"] == rules.pickup_secret(ledger._secret, mine)
    with pytest.raises(errors.Forbidden):
        ledger.ready_pickups(HQ)
