"""Public lookups beside the card page: the lookup counter, the bottle serial lookup and
the stores to collect a product at (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from anchoring import merkle
from anchoring.db import read_transaction, write_transaction
from ledger_service.actor import Actor
from ledger_service.domain.numbers import check_character
from ledger_service.schema import card_check_clients, card_checks, events, products
from portal.lookup_counter import COPIED_CLIENTS, client_tag

HQ = Actor("hq", "tok_hq_test")
STORE = Actor("store", "tok_s1_test", store_id="S1")


def look(client, number: str, address: str = "192.0.2.1", **headers):
    return client.get(f"/c/{number}", environ_base={"REMOTE_ADDR": address}, headers=headers)


def counter(client, number: str):
    response = client.get(f"/api/v1/public/cards/{number}/checks")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


# --- the lookup counter ---------------------------------------------------------------------


def test_every_look_counts_even_when_the_cache_answers(client, cards):
    number, _ = cards.issue()
    assert counter(client, number)["count"] == 0
    first = look(client, number)
    assert first.status_code == 200
    look(client, number)  # served from the lookup cache
    again = look(client, number, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    shown = counter(client, number)
    assert shown["count"] == 3, "a cached page and a 304 are looks too"
    assert shown["first_at"] is not None
    assert "checked 3 times" in shown["text"]
    assert shown["copied_warning"] is False and shown["warning"] is None


def test_the_cached_page_is_the_same_for_everyone_and_fetches_the_counter(client, cards):
    number, _ = cards.issue()
    one = look(client, number, "192.0.2.1").get_data()
    two = look(client, number, "192.0.2.2").get_data()
    assert one == two
    assert f"/api/v1/public/cards/{number}/checks".encode() in one
    assert b"checks.js" in one


def test_no_address_is_kept_only_a_keyed_daily_hash(app, client, cards):
    number, _ = cards.issue()
    look(client, number, "198.51.100.23")
    rt = app.extensions["cardtrail"]
    with read_transaction(rt.engine) as conn:
        tags = conn.execute(sa.select(card_check_clients.c.client)).scalars().all()
        checks = conn.execute(sa.select(card_checks)).all()
    today = datetime.now(UTC).date()
    assert tags == [client_tag(rt.secret_key, today, "198.51.100.23")]
    stored = repr(tags) + repr(checks)
    assert "198.51.100.23" not in stored and "198.51.100" not in stored


def test_many_clients_looking_at_an_unused_card_warn_of_a_copied_code(client, cards):
    number, _ = cards.issue()
    for n in range(COPIED_CLIENTS):
        look(client, number, f"203.0.113.{n}")
    shown = counter(client, number)
    assert shown["clients_today"] == COPIED_CLIENTS
    assert shown["copied_warning"] is True
    assert "copied" in shown["warning"]


def test_one_client_looking_often_or_a_used_card_do_not_warn(client, cards):
    number, code = cards.issue()
    for _ in range(COPIED_CLIENTS + 2):
        look(client, number, "203.0.113.9")
    assert counter(client, number)["copied_warning"] is False
    cards.ledger.redeem(HQ, number, code)
    for n in range(COPIED_CLIENTS):
        look(client, number, f"203.0.113.{n}")
    assert counter(client, number)["copied_warning"] is False


def test_the_counter_of_an_unknown_card_is_not_found_and_not_counted(client, cards):
    number, _ = cards.issue()
    body = number[1:16] + number[0]
    unknown = body + check_character(body)
    assert look(client, unknown).status_code == 404
    response = client.get(f"/api/v1/public/cards/{unknown}/checks")
    assert response.status_code == 404 and response.get_json()["code"] == "CARD_NOT_FOUND"


# --- bottle serials -------------------------------------------------------------------------


def handed_over(cards, serials: list[str], *, store: bool = True) -> tuple[str, int]:
    """A card whose store pickup was handed over with ``serials`` scanned at the counter
    (the completion indexes them): (number, the completion's leaf index)."""
    if store:
        cards.store()
    number, code = cards.issue()
    cards.ledger.claim(HQ, number, "crm-1")
    pickup = cards.ledger.request_pickup(HQ, number, "store", code, store_id="S1")["pickup_id"]
    cards.ledger.pickup_ready(STORE, pickup)
    done = cards.ledger.pickup_complete(
        STORE, pickup, credential="card_code", code=code, serials=serials
    )
    return number, done["leaf_index"]


def test_a_serial_names_the_card_by_commitment_and_proves_the_event(client, cards):
    number, leaf = handed_over(cards, [" MT-0001 ", "MT-0002"])
    anchored = cards.anchor()
    response = client.get("/api/v1/public/serials", query_string={"serial": "MT-0001"})
    assert response.status_code == 200
    doc = response.get_json()
    assert number not in response.get_data(as_text=True), "never the card number"
    [handover] = doc["handovers"]
    assert handover["leaf_index"] == leaf and handover["pending"] is False
    assert handover["event"]["type"] == "PICKUP_COMPLETED"
    assert handover["card"] == handover["event"]["card"]
    assert handover["store_name"] == "Shanghai Nanjing Road"
    assert doc["checkpoint"]["root"] == anchored.checkpoint.root.hex()
    with read_transaction(cards.engine) as conn:
        leaf_input = conn.execute(
            sa.text("SELECT leaf_input FROM log_leaves WHERE leaf_index = :i"), {"i": leaf}
        ).scalar_one()
    merkle.verify_inclusion(
        leaf,
        doc["checkpoint"]["tree_size"],
        merkle.hash_leaf(bytes(leaf_input)),
        [bytes.fromhex(h) for h in handover["inclusion_proof"]],
        anchored.checkpoint.root,
    )


def test_a_serial_handed_over_after_the_checkpoint_is_pending(client, cards):
    cards.issue()
    cards.anchor()
    handed_over(cards, ["MT-9"])
    [handover] = client.get("/api/v1/public/serials?serial=MT-9").get_json()["handovers"]
    assert handover["pending"] is True and handover["inclusion_proof"] is None


def test_the_serial_page_shows_the_handover_and_a_second_one_warns(client, cards):
    handed_over(cards, ["MT-0001"])
    cards.anchor()
    page = client.get("/serial?serial=MT-0001").get_data(as_text=True)
    assert "Handed over once" in page and "serial.js" in page and "Not checked here" in page
    handed_over(cards, ["mt-0001"], store=False)  # the same serial, typed in lower case
    page = client.get("/serial?serial=MT-0001").get_data(as_text=True)
    assert "Handed over 2 times" in page and "copied serial" in page


def test_an_unknown_or_malformed_serial(client, cards):
    page = client.get("/serial?serial=NOPE-1")
    assert page.status_code == 200 and "Never handed over" in page.get_data(as_text=True)
    assert client.get("/api/v1/public/serials?serial=NOPE-1").get_json()["handovers"] == []
    bad = client.get("/api/v1/public/serials", query_string={"serial": "x" * 129})
    assert bad.status_code == 422 and bad.get_json()["code"] == "VALIDATION_FAILED"
    evil = client.get("/serial", query_string={"serial": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in evil.get_data(as_text=True)


def test_serials_stay_out_of_the_events_table_and_the_log_keeps_them_only_in_data(cards):
    number, leaf = handed_over(cards, ["MT-1"])
    with read_transaction(cards.engine) as conn:
        row = conn.execute(sa.select(events).where(events.c.leaf_index == leaf)).one()
    assert row.card_number == number and row.type == "PICKUP_COMPLETED"


# --- where to collect ---------------------------------------------------------------------


def test_the_stores_with_the_product_available_grouped_by_city(client, cards):
    with write_transaction(cards.engine) as conn:
        conn.execute(
            sa.insert(products),
            {
                "sku": "MT500",
                "name_zh": "茅台 500ml",
                "name_en": "Moutai 500ml",
                "kind": "pickup",
                "units": 1,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )
    ledger = cards.ledger
    ledger.create_store(HQ, "SH01", "南京路店", "east", city="上海", address="南京东路 1 号")
    ledger.create_store(HQ, "SH02", "淮海路店", "east", city="上海", opening_hours="10-22")
    ledger.create_store(HQ, "BJ01", "王府井店", "north", city="北京")
    ledger.set_stock(HQ, "SH01", "MT500", on_hand=2)
    ledger.set_stock(HQ, "SH02", "MT500", on_hand=0)
    ledger.set_stock(HQ, "BJ01", "MT500", on_hand=1)
    doc = client.get("/api/v1/public/products/MT500/stores").get_json()
    assert [(c["city"], [s["store_id"] for s in c["stores"]]) for c in doc["cities"]] == [
        ("上海", ["SH01"]),
        ("北京", ["BJ01"]),
    ] or [(c["city"], [s["store_id"] for s in c["stores"]]) for c in doc["cities"]] == [
        ("北京", ["BJ01"]),
        ("上海", ["SH01"]),
    ]
    page = client.get("/p/MT500/stores")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Moutai 500ml" in text and "南京东路 1 号" in text
    assert "淮海路店" not in text, "a store without stock is not offered"
    assert client.get("/p/NOPE/stores").status_code == 404
