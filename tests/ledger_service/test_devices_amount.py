"""A device signs the amount it redeems (EIP-712 domain version 3): the Ledger logs a
signed redemption only for the amount signed, and version 2 blocks, which signed none, are
refused (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from eth_account import Account

from anchoring import checkpoints
from anchoring.db import write_transaction
from ledger_service import devices, errors
from ledger_service.actor import Actor
from ledger_service.devices import SigningDomain, StoreCommand
from ledger_service.domain.lifecycle import CardState, EventDraft, EventType

pytest_plugins = ["ledger_fixtures"]

HQ = Actor("hq", "tok_hq")
STORE1 = Actor("store", "tok_s1", store_id="S1")
KEY = Account.from_key(bytes([5] * 32))
NOW = "2026-11-24T06:00:00.000Z"
HERE = SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


@pytest.fixture
def keyed(ledger, stores, clock):
    """The ledger anchored to :data:`HERE`, with :data:`KEY` a device key of S1."""
    with write_transaction(ledger._engine) as conn:
        checkpoints.record_deployment(
            conn, HERE.chain_id, HERE.contract, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )
    devices.KeyRegistry(ledger._engine, clock=clock).register(HQ, "S1", KEY.address)
    return ledger


def value_card(ledger, kind: str) -> tuple[str, str]:
    """An active stored-value card of 100.00 CNY, or a count card of 10 uses."""
    sku = f"{kind.upper()}-{secrets.token_hex(3)}"
    if kind == "stored_value":
        ledger.create_product(
            HQ, sku, "储值卡", "Stored value", kind, face_value=10_000, currency="CNY"
        )
    else:
        ledger.create_product(HQ, sku, "次卡", "Ten visits", kind, units=10)
    [card] = ledger.issue_cards(HQ, "B-" + sku, [{"sku": sku}], active=True)["cards"]
    return card["card_number"], card["redemption_code"]


def pickup_card(ledger) -> tuple[str, str]:
    card = ledger.issue_cards(HQ, "B1", [{"product": "Tea 250g"}], active=True)["cards"][0]
    return card["card_number"], card["redemption_code"]


def signed_redeem(number: str, amount: int) -> devices.DeviceSignature:
    cmd = StoreCommand(number, "redeem", "S1", "", NOW, "c-" + secrets.token_hex(8), amount)
    return devices.sign(cmd, KEY.key, HERE)


def unchanged(ledger, number: str, error: type[errors.LedgerError], **redeem) -> str:
    """Redeem with ``redeem``'s arguments, expecting ``error`` and no new event; its detail."""
    before = ledger.get_card(HQ, number)
    with pytest.raises(error) as caught:
        ledger.redeem(STORE1, number, **redeem)
    assert ledger.get_card(HQ, number) == before
    return caught.value.detail


# --- pure ------------------------------------------------------------------------------


def test_the_signed_type_names_the_amount_as_a_uint256():
    members = {f["name"]: f["type"] for f in devices.TYPES["StoreCommand"]}
    assert members["amount"] == "uint256"
    assert HERE.eip712()["version"] == "3"


def test_an_event_never_records_another_amount_than_the_signed_one():
    draft = EventDraft(
        EventType.REDEEMED, CardState.ISSUED, datetime.now(UTC), "S1", {"amount": 800}
    )
    cmd = StoreCommand("23456789ABCDEFGH8", "redeem", "S1", "", NOW, "c-pure-0001", 500)
    verified = devices.verify(cmd, devices.sign(cmd, KEY.key, HERE), HERE)
    with pytest.raises(errors.SignatureInvalid, match="signed amount 500.*record 800"):
        devices.signed_draft(draft, verified)
    logged = devices.signed_draft(
        EventDraft(EventType.REDEEMED, CardState.ISSUED, datetime.now(UTC), "S1", {"amount": 500}),
        verified,
    )
    assert logged.data["signed_amount"] == logged.data["amount"] == 500


# --- the ledger ------------------------------------------------------------------------


def test_a_signed_partial_redemption_logs_the_signed_amount_beside_the_amount(keyed):
    number, code = value_card(keyed, "stored_value")
    signature = signed_redeem(number, 2_500)
    done = keyed.redeem(STORE1, number, code, signature=signature.to_json(), amount=2_500)
    assert (done["amount"], done["balance"]) == (2_500, 7_500)
    event = keyed.get_card(HQ, number)["events"][-1]
    assert event["data"]["amount"] == event["data"]["signed_amount"] == 2_500
    assert event["data"]["signer"] == KEY.address


def test_a_signature_over_another_amount_is_refused(keyed):
    number, code = value_card(keyed, "stored_value")
    detail = unchanged(
        keyed,
        number,
        errors.SignatureInvalid,
        redemption_code=code,
        signature=signed_redeem(number, 2_500),
        amount=9_000,
    )
    assert "signed amount 2500" in detail and "9000" in detail


def test_a_signed_amount_changed_in_the_block_does_not_recover_to_the_device(keyed):
    number, code = value_card(keyed, "stored_value")
    block = {**signed_redeem(number, 2_500).to_json(), "signed_amount": 9_000}
    detail = unchanged(
        keyed, number, errors.SignatureInvalid, redemption_code=code, signature=block, amount=9_000
    )
    assert "not made by" in detail


def test_a_count_cards_default_use_must_be_signed_too(keyed):
    number, code = value_card(keyed, "count")
    detail = unchanged(
        keyed,
        number,
        errors.SignatureInvalid,
        redemption_code=code,
        signature=signed_redeem(number, 0),
    )
    assert "would record 1" in detail
    keyed.redeem(STORE1, number, code, signature=signed_redeem(number, 1), amount=1)
    assert keyed.get_card(HQ, number)["events"][-1]["data"]["signed_amount"] == 1


def test_a_pickup_card_is_signed_for_amount_zero(keyed):
    number, code = pickup_card(keyed)
    unchanged(
        keyed,
        number,
        errors.SignatureInvalid,
        redemption_code=code,
        signature=signed_redeem(number, 500),
    )
    keyed.redeem(STORE1, number, code, signature=signed_redeem(number, 0))
    event = keyed.get_card(HQ, number)["events"][-1]
    assert event["data"]["signed_amount"] == 0 and "amount" not in event["data"]


def test_a_version_2_signature_block_is_refused(keyed):
    """Version 2 signed no amount: taking it, even for a pickup card, would log signed
    events that name no amount again."""
    number, code = pickup_card(keyed)
    v2_block = {k: v for k, v in signed_redeem(number, 0).to_json().items() if k != "signed_amount"}
    detail = unchanged(
        keyed, number, errors.SignatureInvalid, redemption_code=code, signature=v2_block
    )
    assert "domain version 3" in detail
