"""The Ledger on real databases: commands, refusals, the per-card chain, lockout, roles."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import rfc8785
import sqlalchemy as sa

from anchoring import merkle
from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service import errors
from ledger_service.actor import SYSTEM, Actor
from ledger_service.domain.numbers import format_card_number
from ledger_service.events import GENESIS
from ledger_service.schema import anomalies, cards, code_failures, events

# The Ledger fixtures (clock, ledger, stores) live beside conftest.py, which is the API's.
pytest_plugins = ["ledger_fixtures"]

HQ = Actor("hq", "tok_hq")
AUDITOR = Actor("auditor", "tok_aud")
STORE1 = Actor("store", "tok_s1", store_id="S1")
STORE3 = Actor("store", "tok_s3", store_id="S3")


def issue(ledger, **fields):
    """Issue one card; return (number, redemption code)."""
    card = ledger.issue_cards(HQ, "B1", [{"product": "Tea 250g", **fields}])["cards"][0]
    return card["card_number"], card["redemption_code"]


def log_size(ledger) -> int:
    with read_transaction(ledger._engine) as conn:
        return MerkleLog(conn).size()


def rows(ledger, table, *where) -> list:
    with read_transaction(ledger._engine) as conn:
        return conn.execute(sa.select(table).where(*where)).all()


def anomaly_kinds(ledger) -> list[str]:
    return [a["kind"] for a in ledger.anomalies(HQ)]


def assert_refused_without_writing(ledger, error, call, *args, **kwargs):
    """``call`` raises ``error`` and leaves the log and the events table unchanged."""
    size, count = log_size(ledger), len(rows(ledger, events))
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    assert (log_size(ledger), len(rows(ledger, events))) == (size, count)
    return caught.value


# --- issuing ---------------------------------------------------------------------------


def test_issue_cards_logs_one_issued_event_per_card_with_consecutive_leaves(ledger, stores):
    before = log_size(ledger)
    specs = [
        {
            "product": "Moutai 500ml",
            "face_value": 150000,
            "currency": "CNY",
            "allowed_stores": ["S1"],
        },
        {"product": "Tea 250g", "allowed_regions": ["south"], "expires_at": "2027-01-31T23:59:59Z"},
        {"product": "Mooncakes", "holder_ref": "cust-77"},
    ]
    result = ledger.issue_cards(HQ, "B-2026-11", specs)
    issued = result["cards"]
    assert result["batch_ref"] == "B-2026-11"
    assert [c["leaf_index"] for c in issued] == [before, before + 1, before + 2]
    assert log_size(ledger) == before + 3
    assert len({c["card_number"] for c in issued}) == 3
    history = ledger.card_history(issued[1]["card_number"])
    event = history.events[0].event
    assert (event["type"], event["seq"], event["prev_event_hash"]) == ("ISSUED", 0, GENESIS)
    assert event["data"]["allowed_regions"] == ["south"]
    assert event["data"]["expires_at"] == "2027-01-31T23:59:59.000Z"
    assert event["actor"] == {"role": "hq", "id": "tok_hq"}


def test_issued_codes_are_stored_only_as_keyed_hashes(ledger):
    number, code = issue(ledger)
    [row] = rows(ledger, cards, cards.c.number == number)
    stored = json.dumps([str(v) for v in row._mapping.values()])
    assert code not in stored and code.replace("-", "") not in stored
    assert len(bytes(row.code_hash)) == 32


def test_issue_with_an_unknown_store_issues_nothing(ledger, stores):
    assert_refused_without_writing(
        ledger,
        errors.StoreNotFound,
        ledger.issue_cards,
        HQ,
        "B1",
        [{"product": "Tea"}, {"product": "Tea", "allowed_stores": ["S9"]}],
    )
    assert rows(ledger, cards) == []


def test_issue_lists_every_invalid_card(ledger):
    error = assert_refused_without_writing(
        ledger,
        errors.ValidationFailed,
        ledger.issue_cards,
        HQ,
        "B1",
        [
            {"product": "Tea"},
            {"product": ""},
            {"product": "Tea", "face_value": 1.5, "currency": "CNY"},
        ],
    )
    assert [e["index"] for e in error.extra["errors"]] == [1, 2]


def test_a_row_key_is_issued_once_per_batch(ledger):
    first = ledger.issue_cards(HQ, "B1", [{"product": "Tea", "row_key": "r1"}])
    size = log_size(ledger)
    again = ledger.issue_cards(
        HQ, "B1", [{"product": "Tea", "row_key": "r1"}, {"product": "Tea", "row_key": "r2"}]
    )
    assert [c["row_key"] for c in again["cards"]] == ["r2"]
    assert again["skipped"] == [{"row_key": "r1", "card_number": first["cards"][0]["card_number"]}]
    assert log_size(ledger) == size + 1
    other_batch = ledger.issue_cards(HQ, "B2", [{"product": "Tea", "row_key": "r1"}])
    assert len(other_batch["cards"]) == 1


# --- the per-card chain ------------------------------------------------------------------


def test_a_cards_events_form_a_hash_chain_of_exact_leaf_inputs(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust-1")
    code = ledger.transfer(HQ, number, code, "cust-2")["redemption_code"]
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S1")
    ledger.pickup_ready(STORE1, pickup["pickup_id"])
    done = ledger.pickup_complete(STORE1, pickup["pickup_id"])
    assert done["state"] == "PICKUP_COMPLETED"

    history = ledger.card_history(format_card_number(number).lower())
    assert history.state == "PICKUP_COMPLETED"
    types = [h.event["type"] for h in history.events]
    assert types == [
        "ISSUED",
        "CLAIMED",
        "TRANSFERRED",
        "PICKUP_REQUESTED",
        "PICKUP_READY",
        "PICKUP_COMPLETED",
    ]
    commitment = hashlib.sha256(history.card_salt + number.encode()).hexdigest()
    previous = GENESIS
    with read_transaction(ledger._engine) as conn:
        log = MerkleLog(conn)
        root = log.root()
        size = log.size()
        for seq, item in enumerate(history.events):
            assert item.event["seq"] == seq
            assert item.event["card"] == commitment
            assert item.event["leaf_index"] == item.leaf_index
            assert item.event["prev_event_hash"] == previous
            assert item.leaf_input == log.leaf_input(item.leaf_index)
            assert rfc8785.dumps(item.event) == item.leaf_input
            log.inclusion_proof(item.leaf_index, size).verify(root)
            assert log.inclusion_proof(item.leaf_index, size).leaf_hash == merkle.hash_leaf(
                item.leaf_input
            )
            previous = hashlib.sha256(item.leaf_input).hexdigest()
    assert [r.seq for r in rows(ledger, events, events.c.card_number == number)] == list(range(6))


def test_the_log_never_holds_the_card_number_or_the_holder(ledger):
    number, code = issue(ledger, holder_ref="alice@example.com")
    ledger.claim(HQ, number, "alice@example.com")
    for item in ledger.card_history(number).events:
        assert number.encode() not in item.leaf_input
        assert b"alice" not in item.leaf_input
        assert code.encode() not in item.leaf_input


def test_get_card_shows_fields_state_pickups_and_events(ledger, stores):
    number, code = issue(ledger, face_value=5000, currency="CNY", allowed_stores=["S1"])
    ledger.claim(HQ, number, "cust-1")
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S1")
    view = ledger.get_card(AUDITOR, number)
    assert (view["state"], view["face_value"], view["allowed_stores"]) == (
        "PICKUP_REQUESTED",
        5000,
        ["S1"],
    )
    assert view["holder_ref"] == "cust-1"
    assert [p["pickup_id"] for p in view["pickups"]] == [pickup["pickup_id"]]
    assert [e["type"] for e in view["events"]] == ["ISSUED", "CLAIMED", "PICKUP_REQUESTED"]
    assert view["events"][2]["store_id"] == "S1"


# --- commands and refusals --------------------------------------------------------------


def test_redeem_twice_is_rejected_and_logged_once(ledger, stores):
    number, code = issue(ledger)
    result = ledger.redeem(STORE1, number, code)
    assert result == {
        "card_number": number,
        "state": "REDEEMED",
        "leaf_index": result["leaf_index"],
    }
    assert_refused_without_writing(
        ledger, errors.CardAlreadyUsed, ledger.redeem, STORE1, number, code
    )
    assert [r.type for r in rows(ledger, events, events.c.card_number == number)] == [
        "ISSUED",
        "REDEEMED",
    ]
    assert "used_card_attempt" in anomaly_kinds(ledger)


def test_redeem_with_a_typo_in_the_number_is_refused_before_lookup(ledger):
    number, code = issue(ledger)
    typo = number[:3] + number[4] + number[3] + number[5:]
    if typo == number:
        typo = number[:-1] + ("2" if number[-1] != "2" else "3")
    error = assert_refused_without_writing(
        ledger, errors.InvalidCardNumber, ledger.redeem, HQ, typo, code
    )
    assert "typo" in error.detail or "check character" in error.detail
    assert error.code == "INVALID_CARD_NUMBER"


def test_an_unknown_number_is_not_found_and_flagged(ledger):
    from ledger_service.domain.numbers import generate_card_number

    assert_refused_without_writing(
        ledger, errors.CardNotFound, ledger.redeem, HQ, generate_card_number(), "X"
    )
    assert anomaly_kinds(ledger) == ["unknown_card"]


def test_claim_twice_is_an_invalid_transition(ledger):
    number, _ = issue(ledger)
    ledger.claim(HQ, number, "cust-1")
    assert_refused_without_writing(
        ledger, errors.InvalidTransition, ledger.claim, HQ, number, "cust-2"
    )


def test_block_holds_the_card_and_unblock_returns_it(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "cust-1")
    assert ledger.block(HQ, number, "reported stolen")["state"] == "BLOCKED"
    assert_refused_without_writing(ledger, errors.CardBlocked, ledger.redeem, STORE1, number, code)
    assert ledger.unblock(HQ, number)["state"] == "CLAIMED"
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"
    blocked = [h.event for h in ledger.card_history(number).events if h.event["type"] == "BLOCKED"]
    assert blocked[0]["data"] == {"reason": "reported stolen"}


def test_a_voided_card_refuses_everything(ledger, stores):
    number, code = issue(ledger)
    ledger.void(HQ, number, "refunded")
    assert_refused_without_writing(ledger, errors.CardVoided, ledger.redeem, STORE1, number, code)
    assert_refused_without_writing(ledger, errors.CardVoided, ledger.block, HQ, number)
    assert "voided_card_attempt" in anomaly_kinds(ledger)


def test_transfer_retires_the_old_code(ledger, stores):
    number, old = issue(ledger)
    ledger.claim(HQ, number, "giver")
    new = ledger.transfer(HQ, number, old, "receiver")["redemption_code"]
    assert new != old
    assert_refused_without_writing(ledger, errors.InvalidCode, ledger.redeem, STORE1, number, old)
    assert ledger.redeem(STORE1, number, new)["state"] == "REDEEMED"
    assert ledger.get_card(HQ, number)["holder_ref"] == "receiver"


def test_transfer_needs_the_current_code(ledger):
    number, _ = issue(ledger)
    ledger.claim(HQ, number, "giver")
    assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.transfer, HQ, number, "AAAA-AAAA-AAAA", "x"
    )


def test_codes_are_read_forgivingly(ledger, stores):
    number, code = issue(ledger)
    sloppy = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert ledger.redeem(STORE1, number, sloppy)["state"] == "REDEEMED"


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


# --- stores and roles -------------------------------------------------------------------


def test_redeem_at_other_store_is_forbidden(ledger, stores):
    number, code = issue(ledger, allowed_stores=["S1"])
    error = assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, STORE3, number, code
    )
    assert error.status == 403
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, STORE1, number, code, store_id="S3"
    )
    [anomaly] = ledger.anomalies(AUDITOR, kind="other_store_attempt")[:1]
    assert (anomaly["card_number"], anomaly["store_id"]) == (number, "S3")
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_a_region_card_is_redeemable_in_every_store_of_the_region(ledger, stores):
    number, code = issue(ledger, allowed_regions=["south"])
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, STORE1, number, code
    )
    assert ledger.redeem(STORE3, number, code)["state"] == "REDEEMED"


def test_headquarters_redeems_at_a_named_store_or_none(ledger, stores):
    number, code = issue(ledger, allowed_stores=["S1"])
    assert_refused_without_writing(
        ledger, errors.StoreNotAllowed, ledger.redeem, HQ, number, code, store_id="S3"
    )
    assert_refused_without_writing(
        ledger, errors.StoreNotFound, ledger.redeem, HQ, number, code, store_id="S9"
    )
    assert ledger.redeem(HQ, number, code)["state"] == "REDEEMED"
    assert rows(ledger, events, events.c.type == "REDEEMED")[0].store_id is None


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


FORBIDDEN = {
    "auditor redeems": lambda lg, n, c: lg.redeem(AUDITOR, n, c),
    "auditor issues": lambda lg, n, c: lg.issue_cards(AUDITOR, "B", [{"product": "x"}]),
    "store issues": lambda lg, n, c: lg.issue_cards(STORE1, "B", [{"product": "x"}]),
    "store claims": lambda lg, n, c: lg.claim(STORE1, n, "h"),
    "store voids": lambda lg, n, c: lg.void(STORE1, n),
    "store blocks": lambda lg, n, c: lg.block(STORE1, n),
    "store creates a store": lambda lg, n, c: lg.create_store(STORE1, "S7", "x", "y"),
    "store unlocks a code": lambda lg, n, c: lg.unlock_code(STORE1, n),
    "store reads anomalies": lambda lg, n, c: lg.anomalies(STORE1),
    "auditor expires cards": lambda lg, n, c: lg.expire_due(AUDITOR),
}


def test_roles_may_do_only_their_part(ledger, stores):
    number, code = issue(ledger)
    for name, call in FORBIDDEN.items():
        size = log_size(ledger)
        with pytest.raises(errors.Forbidden):
            call(ledger, number, code)
            pytest.fail(f"{name}: was allowed")
        assert log_size(ledger) == size, name
    assert ledger.get_card(HQ, number)["state"] == "ISSUED"


def test_auditors_and_stores_can_read(ledger, stores):
    number, _ = issue(ledger)
    assert ledger.get_card(AUDITOR, number)["state"] == "ISSUED"
    assert ledger.get_card(STORE1, number)["state"] == "ISSUED"
    assert [s["id"] for s in ledger.list_stores(STORE1)] == ["S1", "S2", "S3"]


def test_a_store_id_is_created_once(ledger, stores):
    with pytest.raises(errors.StoreExists):
        ledger.create_store(HQ, "S1", "Again", "north")
    with pytest.raises(errors.ValidationFailed):
        ledger.create_store(HQ, "bad id!", "Name", "north")


# --- wrong codes ------------------------------------------------------------------------


def test_five_wrong_codes_lock_the_code_for_fifteen_minutes_then_thirty(ledger, stores, clock):
    number, code = issue(ledger)
    for attempt in range(1, 5):
        error = assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
        assert error.extra["attempts_left"] == 5 - attempt
    error = assert_refused_without_writing(
        ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
    )
    assert "15 minutes" in error.detail and error.extra["retry_after"] == 900
    locked = assert_refused_without_writing(
        ledger, errors.CodeLocked, ledger.redeem, STORE1, number, code
    )
    assert locked.extra["retry_after"] == 900
    clock.advance(minutes=15)
    for _ in range(5):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
    clock.advance(minutes=29)
    assert_refused_without_writing(ledger, errors.CodeLocked, ledger.redeem, STORE1, number, code)
    clock.advance(minutes=1)
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"
    outcomes = [
        r.outcome for r in rows(ledger, code_failures, code_failures.c.card_number == number)
    ]
    assert outcomes.count("wrong") == 10 and outcomes.count("locked") == 2
    assert anomaly_kinds(ledger).count("code_locked") == 2


def test_a_right_code_ends_the_run_of_wrong_ones(ledger, stores):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "giver")
    for _ in range(4):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.transfer, HQ, number, "WRONG", "x"
        )
    code = ledger.transfer(HQ, number, code, "receiver")["redemption_code"]
    for _ in range(4):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_headquarters_can_unlock_a_locked_code(ledger, stores):
    number, code = issue(ledger)
    for _ in range(5):
        assert_refused_without_writing(
            ledger, errors.InvalidCode, ledger.redeem, STORE1, number, "WRONG"
        )
    assert ledger.get_card(HQ, number)["code_locked_until"] is not None
    assert_refused_without_writing(ledger, errors.CodeLocked, ledger.redeem, STORE1, number, code)
    ledger.unlock_code(HQ, number)
    assert ledger.get_card(HQ, number)["code_locked_until"] is None
    assert ledger.redeem(STORE1, number, code)["state"] == "REDEEMED"


def test_errors_never_carry_the_code(ledger, stores):
    number, code = issue(ledger)
    for attempt in ("WRONG", code):
        with pytest.raises(errors.LedgerError) as caught:
            ledger.redeem(STORE3, number, attempt, store_id="S1")
        assert code not in str(caught.value) and code not in repr(caught.value.extra)


# --- bursts and expiry ------------------------------------------------------------------


def test_a_burst_of_redemptions_at_one_store_is_flagged_once(ledger, stores, clock):
    from ledger_service.service import REDEMPTION_BURST

    batch = ledger.issue_cards(HQ, "B1", [{"product": "Tea"}] * (REDEMPTION_BURST + 2))["cards"]
    for card in batch[: REDEMPTION_BURST - 1]:
        ledger.redeem(STORE1, card["card_number"], card["redemption_code"])
    assert "redemption_burst" not in anomaly_kinds(ledger)
    for card in batch[REDEMPTION_BURST - 1 :]:
        ledger.redeem(STORE1, card["card_number"], card["redemption_code"])
    bursts = ledger.anomalies(HQ, kind="redemption_burst")
    assert [(b["store_id"], b["card_number"]) for b in bursts] == [("S1", None)]


def test_expire_due_closes_unused_cards_past_their_date(ledger, stores, clock):
    soon = (clock.now + timedelta(days=1)).isoformat()
    late = (clock.now + timedelta(days=30)).isoformat()
    due, code_due = issue(ledger, expires_at=soon)
    blocked, _ = issue(ledger, expires_at=soon)
    picking, code_picking = issue(ledger, expires_at=soon)
    later, _ = issue(ledger, expires_at=late)
    ledger.block(HQ, blocked)
    ledger.claim(HQ, picking, "cust")
    ledger.request_pickup(HQ, picking, "store", code_picking, store_id="S1")
    assert ledger.expire_due(SYSTEM) == 0
    clock.advance(days=2)
    assert_refused_without_writing(ledger, errors.CardExpired, ledger.redeem, STORE1, due, code_due)
    size = log_size(ledger)
    assert ledger.expire_due() == 2
    assert log_size(ledger) == size + 2
    assert {n: ledger.get_card(HQ, n)["state"] for n in (due, blocked, picking, later)} == {
        due: "EXPIRED",
        blocked: "EXPIRED",
        picking: "PICKUP_REQUESTED",
        later: "ISSUED",
    }
    expired = ledger.card_history(due).events[-1].event
    assert (expired["type"], expired["occurred_at"]) == ("EXPIRED", "2026-11-25T06:00:00.000Z")
    assert ledger.expire_due() == 0
    assert_refused_without_writing(ledger, errors.CardExpired, ledger.redeem, STORE1, due, code_due)


def test_expire_due_works_through_more_than_one_batch(ledger, clock, monkeypatch):
    from ledger_service import service

    monkeypatch.setattr(service, "EXPIRY_BATCH", 3)
    soon = (clock.now + timedelta(hours=1)).isoformat()
    ledger.issue_cards(HQ, "B1", [{"product": "Tea", "expires_at": soon}] * 7)
    clock.advance(hours=2)
    assert ledger.expire_due() == 7
    assert len(rows(ledger, cards, cards.c.state == "EXPIRED")) == 7


def test_refusals_write_no_anomaly_for_plain_mistakes(ledger):
    number, _ = issue(ledger)
    with pytest.raises(errors.InvalidTransition):
        ledger.unblock(HQ, number)
    assert rows(ledger, anomalies) == []
