"""Device keys: EIP-712 signatures over store commands bound to one deployment (pure), the
key registry and the Ledger's checks of signed commands (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from anchoring import checkpoints
from anchoring.db import write_transaction
from ledger_service import devices, errors
from ledger_service.actor import Actor
from ledger_service.devices import DeviceSignature, SigningDomain, StoreCommand
from ledger_service.schema import device_commands

pytest_plugins = ["ledger_fixtures"]

HQ = Actor("hq", "tok_hq")
AUDITOR = Actor("auditor", "tok_aud")
STORE1 = Actor("store", "tok_s1", store_id="S1")
STORE2 = Actor("store", "tok_s2", store_id="S2")
KEY1 = Account.from_key(bytes([1] * 32))
KEY1B = Account.from_key(bytes([2] * 32))
KEY2 = Account.from_key(bytes([3] * 32))
STRANGER = Account.from_key(bytes([4] * 32))
NOW = "2026-11-24T06:00:00.000Z"
HERE = SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
"""The deployment the tests' ledger is anchored to (anvil's first contract address)."""
ELSEWHERE = {
    "another chain id": SigningDomain(1, HERE.contract),
    "another contract": SigningDomain(HERE.chain_id, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
}


def command(**fields) -> StoreCommand:
    base = {
        "card": "23456789ABCDEFGH8",
        "action": "redeem",
        "store": "S1",
        "pickup": "",
        "time": NOW,
        "client_id": "client-0001",
    }
    return StoreCommand(**{**base, **fields})


# --- pure ------------------------------------------------------------------------------


def test_a_signed_command_recovers_to_its_signer():
    signed = devices.sign(command(), KEY1.key, HERE)
    assert signed.signer == KEY1.address
    assert devices.recover_signer(command(), signed.signature, HERE) == KEY1.address
    assert devices.verify(command(), signed, HERE) == replace(signed, deployment=HERE)


@pytest.mark.parametrize(
    "field, value",
    [
        ("card", "23456789ABCDEFGH9"),
        ("action", "pickup_complete"),
        ("store", "S2"),
        ("pickup", "pk_1"),
        ("time", "2026-11-24T06:00:00.001Z"),
        ("client_id", "client-0002"),
        ("amount", 800),
    ],
)
def test_changing_any_signed_field_breaks_the_signature(field, value):
    signed = devices.sign(command(), KEY1.key, HERE)
    changed = command(**{field: value})
    signature = replace(
        signed,
        client_id=changed.client_id,
        signed_at=changed.time,
        signed_amount=changed.amount,
    )
    with pytest.raises(errors.SignatureInvalid, match="not made by"):
        devices.verify(changed, signature, HERE)


def test_a_signature_naming_another_signer_is_invalid():
    signed = devices.sign(command(), STRANGER.key, HERE)
    with pytest.raises(errors.SignatureInvalid, match=KEY1.address):
        devices.verify(command(), replace(signed, signer=KEY1.address), HERE)


@pytest.mark.parametrize("where", sorted(ELSEWHERE))
def test_a_signature_made_for_another_deployment_does_not_verify_here(where):
    made_there = devices.sign(command(), KEY1.key, ELSEWHERE[where])
    assert devices.recover_signer(command(), made_there.signature, HERE) != KEY1.address
    with pytest.raises(errors.SignatureInvalid, match="for this deployment"):
        devices.verify(command(), made_there, HERE)


def test_the_domain_names_chain_and_contract():
    assert HERE.eip712() == {
        "name": "CardTrail",
        "version": "3",
        "chainId": 31337,
        "verifyingContract": HERE.contract,
    }
    assert [f["name"] for f in devices.TYPES["EIP712Domain"]] == list(HERE.eip712())


def test_a_deployment_is_read_from_json_with_a_checksummed_contract():
    raw = {"chain_id": 31337, "contract": HERE.contract.lower(), "rpc_url": "http://x"}
    assert SigningDomain.from_json(raw) == HERE
    assert SigningDomain(31337, HERE.contract.lower()).contract == HERE.contract


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {"chain_id": None, "contract": None},
        {"chain_id": 0, "contract": HERE.contract},
        {"chain_id": True, "contract": HERE.contract},
        {"chain_id": "31337", "contract": HERE.contract},
        {"chain_id": 31337, "contract": HERE.contract[2:]},
        {"chain_id": 31337, "contract": "0x1234"},
        {"chain_id": 2**53, "contract": HERE.contract},
    ],
)
def test_a_malformed_deployment_is_refused(raw):
    with pytest.raises(ValueError):
        SigningDomain.from_json(raw)


def test_only_a_verified_signature_goes_into_an_event():
    from ledger_service.domain.lifecycle import CardState, EventDraft, EventType

    draft = EventDraft(EventType.REDEEMED, CardState.REDEEMED, datetime.now(UTC), "S1")
    signed = devices.sign(command(), KEY1.key, HERE)
    with pytest.raises(ValueError, match="verified"):
        devices.signed_draft(draft, signed)
    logged = devices.signed_draft(draft, devices.verify(command(), signed, HERE))
    assert logged.data["deployment"] == {"chain_id": 31337, "contract": HERE.contract}


def test_the_high_s_twin_of_a_signature_is_refused():
    signed = devices.sign(command(), KEY1.key, HERE)
    raw = bytes.fromhex(signed.signature[2:])
    s = devices._N - int.from_bytes(raw[32:64], "big")
    twin = raw[:32] + s.to_bytes(32, "big") + bytes([55 - raw[64]])
    with pytest.raises(errors.SignatureInvalid, match="high s"):
        devices.recover_signer(command(), "0x" + twin.hex(), HERE)


def test_a_signature_off_the_curve_is_invalid():
    with pytest.raises(errors.SignatureInvalid, match="does not recover"):
        devices.recover_signer(command(), "0x" + "00" * 64 + "1b", HERE)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"signer": "0x1234"}, "signer"),
        ({"signer": "1a642f0e3c3af545e7acbd38b07251b3990914f1"}, "signer"),
        ({"signature": "0x" + "ab" * 64}, "65 bytes"),
        ({"client_id": "short"}, "client_id"),
        ({"client_id": "has space in it"}, "client_id"),
        ({"signed_at": "2026-11-24T06:00:00Z"}, "signed_at"),
        ({"signed_at": "2026-13-24T06:00:00.000Z"}, "real time"),
        ({"extra": "x"}, "signer, signature"),
        ({"signed_amount": -1}, "signed_amount"),
        ({"signed_amount": True}, "signed_amount"),
        ({"signed_amount": "500"}, "signed_amount"),
        ({"signed_amount": 2.5}, "signed_amount"),
        ({"signed_amount": 2**53}, "signed_amount"),
    ],
)
def test_malformed_signature_blocks_are_refused(change, message):
    good = devices.sign(command(), KEY1.key, HERE).to_json()
    with pytest.raises(errors.SignatureInvalid, match=message):
        devices.parse_signature({**good, **change})


def test_parse_signature_checksums_the_signer():
    good = devices.sign(command(), KEY1.key, HERE).to_json()
    parsed = devices.parse_signature({**good, "signer": good["signer"].lower()})
    assert parsed.signer == KEY1.address


def test_the_time_window_refuses_future_and_stale_signatures(clock):
    now = clock.now
    devices.check_window(now - devices.MAX_OFFLINE + timedelta(seconds=1), now)
    devices.check_window(now + devices.MAX_CLOCK_SKEW, now)
    with pytest.raises(errors.SignatureExpired, match="future"):
        devices.check_window(now + devices.MAX_CLOCK_SKEW + timedelta(seconds=1), now)
    with pytest.raises(errors.SignatureExpired, match="days ago"):
        devices.check_window(now - devices.MAX_OFFLINE - timedelta(seconds=1), now)


# --- the registry ----------------------------------------------------------------------


def record_deployment(ledger, domain: SigningDomain) -> None:
    """Record ``domain`` as the current deployment, retiring any other (as a redeploy does)."""
    with write_transaction(ledger._engine) as conn:
        checkpoints.record_deployment(
            conn, domain.chain_id, domain.contract, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )


@pytest.fixture
def deployed(ledger) -> SigningDomain:
    """The ledger's log is anchored to :data:`HERE`."""
    record_deployment(ledger, HERE)
    return HERE


@pytest.fixture
def registry(ledger, stores, clock, deployed):
    keys = devices.KeyRegistry(ledger._engine, clock=clock)
    keys.register(HQ, "S1", KEY1.address, "till 1")
    keys.register(HQ, "S1", KEY1B.address.lower())
    keys.register(HQ, "S2", KEY2.address)
    return keys


def test_keys_are_listed_per_store_with_their_state(registry):
    listed = registry.list(HQ, "S1")
    assert [k["address"] for k in listed] == sorted([KEY1.address, KEY1B.address])
    assert all(k["active"] and k["store_id"] == "S1" for k in listed)
    assert registry.list(STORE1, "S1") == listed
    assert [k["address"] for k in registry.list(AUDITOR, "S2")] == [KEY2.address]


def test_a_store_token_cannot_list_another_stores_keys(registry):
    with pytest.raises(errors.Forbidden, match="S1"):
        registry.list(STORE1, "S2")


def test_only_headquarters_registers_and_revokes(registry):
    with pytest.raises(errors.Forbidden):
        registry.register(STORE1, "S1", STRANGER.address)
    with pytest.raises(errors.Forbidden):
        registry.revoke(STORE1, "S1", KEY1.address)


def test_an_address_is_registered_once_even_after_revocation(registry):
    with pytest.raises(errors.DeviceKeyExists):
        registry.register(HQ, "S2", KEY1.address)
    registry.revoke(HQ, "S1", KEY1.address)
    with pytest.raises(errors.DeviceKeyExists):
        registry.register(HQ, "S1", KEY1.address)


def test_registering_needs_a_real_store_and_address(registry):
    with pytest.raises(errors.StoreNotFound):
        registry.register(HQ, "NOPE", STRANGER.address)
    with pytest.raises(errors.ValidationFailed, match="address"):
        registry.register(HQ, "S1", "0xnot-an-address")


def test_revoking_marks_the_key_and_is_idempotent(registry, clock):
    first = registry.revoke(HQ, "S1", KEY1.address)
    clock.advance(minutes=5)
    again = registry.revoke(HQ, "S1", KEY1.address)
    assert first["active"] is False and first["revoked_at"] == again["revoked_at"]
    with pytest.raises(errors.DeviceKeyNotFound):
        registry.revoke(HQ, "S2", KEY1.address)


# --- the ledger's checks ---------------------------------------------------------------


def issue(ledger) -> tuple[str, str]:
    card = ledger.issue_cards(HQ, "B1", [{"product": "Tea 250g"}], active=True)["cards"][0]
    return card["card_number"], card["redemption_code"]


def signed_redeem(key, number, store="S1", when=None, client_id=None, domain=HERE, **fields):
    cmd = command(
        card=number,
        store=store,
        time=when or NOW,
        client_id=client_id or "c-" + secrets.token_hex(8),
        **fields,
    )
    return devices.sign(cmd, key.key, domain)


def card_events(ledger, number):
    return [e for e in ledger.get_card(HQ, number)["events"]]


def test_a_signed_redemption_logs_signer_signature_and_offline_time(ledger, registry, clock):
    number, code = issue(ledger)
    offline = clock.now - timedelta(hours=3)
    signature = signed_redeem(KEY1, number, when=devices.timestamp(offline))
    result = ledger.redeem(STORE1, number, code, signature=signature.to_json())
    event = card_events(ledger, number)[-1]
    assert result["leaf_index"] == event["leaf_index"]
    assert event["type"] == "REDEEMED" and event["store_id"] == "S1"
    assert event["data"] == {**signature.to_json(), "deployment": HERE.to_json()}
    assert event["occurred_at"] == devices.timestamp(offline)
    assert event["recorded_at"] == devices.timestamp(clock.now)
    cmd = command(card=number, time=event["data"]["signed_at"], client_id=signature.client_id)
    assert devices.recover_signer(cmd, event["data"]["signature"], HERE) == KEY1.address


def refused(ledger, error, *args, **kwargs):
    size = len(ledger.get_card(HQ, args[1])["events"])
    with pytest.raises(error) as caught:
        ledger.redeem(*args, **kwargs)
    assert len(ledger.get_card(HQ, args[1])["events"]) == size
    assert ledger.get_card(HQ, args[1])["state"] == "ISSUED"
    return caught.value


def test_a_forged_signature_is_refused(ledger, registry):
    number, code = issue(ledger)
    forged = replace(signed_redeem(STRANGER, number), signer=KEY1.address)
    err = refused(ledger, errors.SignatureInvalid, STORE1, number, code, signature=forged)
    assert err.code == "SIGNATURE_INVALID"


def test_a_signature_over_another_card_is_refused(ledger, registry):
    number, code = issue(ledger)
    other, _ = issue(ledger)
    refused(
        ledger, errors.SignatureInvalid, STORE1, number, code, signature=signed_redeem(KEY1, other)
    )


@pytest.mark.parametrize("where", sorted(ELSEWHERE))
def test_a_signature_made_for_another_deployment_is_refused(ledger, registry, where):
    number, code = issue(ledger)
    made_there = signed_redeem(KEY1, number, domain=ELSEWHERE[where])
    err = refused(ledger, errors.SignatureInvalid, STORE1, number, code, signature=made_there)
    assert err.code == "SIGNATURE_INVALID" and HERE.contract in err.detail


def test_after_a_redeploy_only_signatures_for_the_new_contract_are_taken(ledger, registry):
    number, code = issue(ledger)
    old = signed_redeem(KEY1, number, client_id="c-old-contract")
    replaced = ELSEWHERE["another contract"]
    record_deployment(ledger, replaced)
    refused(ledger, errors.SignatureInvalid, STORE1, number, code, signature=old)
    ledger.redeem(STORE1, number, code, signature=signed_redeem(KEY1, number, domain=replaced))
    assert card_events(ledger, number)[-1]["data"]["deployment"] == replaced.to_json()


def test_before_any_deployment_signed_commands_are_refused_and_unsigned_ones_work(ledger, stores):
    devices.KeyRegistry(ledger._engine).register(HQ, "S1", KEY1.address)
    number, code = issue(ledger)
    err = refused(
        ledger, errors.SignatureInvalid, STORE1, number, code, signature=signed_redeem(KEY1, number)
    )
    assert "no deployed LedgerAnchor contract yet" in err.detail
    ledger.redeem(STORE1, number, code)
    assert ledger.get_card(HQ, number)["state"] == "REDEEMED"


def test_a_replayed_client_id_is_refused(ledger, registry):
    first, code1 = issue(ledger)
    second, code2 = issue(ledger)
    ledger.redeem(
        STORE1, first, code1, signature=signed_redeem(KEY1, first, client_id="c-replay-1")
    )
    err = refused(
        ledger,
        errors.SignatureReplayed,
        STORE1,
        second,
        code2,
        signature=signed_redeem(KEY1, second, client_id="c-replay-1"),
    )
    assert err.code == "SIGNATURE_REPLAYED"


def test_a_revoked_key_is_refused(ledger, registry):
    number, code = issue(ledger)
    registry.revoke(HQ, "S1", KEY1.address)
    err = refused(
        ledger, errors.DeviceKeyRevoked, STORE1, number, code, signature=signed_redeem(KEY1, number)
    )
    assert err.code == "DEVICE_KEY_REVOKED"
    ledger.redeem(STORE1, number, code, signature=signed_redeem(KEY1B, number))


def test_a_key_of_another_store_is_refused(ledger, registry):
    number, code = issue(ledger)
    err = refused(
        ledger,
        errors.DeviceKeyWrongStore,
        STORE1,
        number,
        code,
        signature=signed_redeem(KEY2, number, store="S1"),
    )
    assert err.code == "DEVICE_KEY_WRONG_STORE"


def test_an_unregistered_key_is_refused(ledger, registry):
    number, code = issue(ledger)
    err = refused(
        ledger,
        errors.DeviceKeyUnknown,
        STORE1,
        number,
        code,
        signature=signed_redeem(STRANGER, number),
    )
    assert err.code == "DEVICE_KEY_UNKNOWN"


def test_a_stale_signature_is_refused(ledger, registry, clock):
    number, code = issue(ledger)
    stale = devices.timestamp(clock.now - devices.MAX_OFFLINE - timedelta(minutes=1))
    refused(
        ledger,
        errors.SignatureExpired,
        STORE1,
        number,
        code,
        signature=signed_redeem(KEY1, number, when=stale),
    )


def test_deployments_may_require_store_signatures(engine, ledger, registry, clock):
    from ledger_service.service import Ledger

    strict = Ledger(engine, secrets.token_bytes(32), clock=clock, require_signatures=True)
    first, second = strict.issue_cards(HQ, "B2", [{"product": "Tea"}] * 2, active=True)["cards"]
    with pytest.raises(errors.SignatureRequired):
        strict.redeem(STORE1, first["card_number"], first["redemption_code"])
    signature = signed_redeem(KEY1, first["card_number"])
    strict.redeem(STORE1, first["card_number"], first["redemption_code"], signature=signature)
    # Headquarters is not a store device: its commands need no signature.
    strict.redeem(HQ, second["card_number"], second["redemption_code"], store_id="S2")


def test_a_wrong_code_with_a_good_signature_does_not_use_the_client_id(ledger, registry):
    number, code = issue(ledger)
    signature = signed_redeem(KEY1, number)
    with pytest.raises(errors.InvalidCode):
        ledger.redeem(STORE1, number, "WRONG-CODE", signature=signature)
    ledger.redeem(STORE1, number, code, signature=signature)
    assert ledger.get_card(HQ, number)["state"] == "REDEEMED"


def test_an_offline_redemption_of_a_used_card_is_an_offline_conflict(ledger, registry, clock):
    number, code = issue(ledger)
    offline = devices.timestamp(clock.now - timedelta(hours=2))
    ledger.redeem(STORE2, number, code)
    with pytest.raises(errors.CardAlreadyUsed):
        ledger.redeem(STORE1, number, code, signature=signed_redeem(KEY1, number, when=offline))
    [anomaly] = ledger.anomalies(HQ, kind="offline_conflict")
    assert anomaly["card_number"] == number and anomaly["store_id"] == "S1"
    assert KEY1.address in anomaly["detail"] and offline in anomaly["detail"]


def test_a_device_trying_a_card_used_before_it_signed_is_no_offline_conflict(
    ledger, registry, clock
):
    number, code = issue(ledger)
    ledger.redeem(STORE2, number, code)
    clock.advance(minutes=5)
    late = devices.timestamp(clock.now)
    with pytest.raises(errors.CardAlreadyUsed):
        ledger.redeem(STORE1, number, code, signature=signed_redeem(KEY1, number, when=late))
    assert [a["kind"] for a in ledger.anomalies(HQ)] == ["used_card_attempt"]


def test_signed_pickup_steps_name_the_pickup(ledger, registry):
    number, code = issue(ledger)
    ledger.claim(HQ, number, "holder-1")
    pickup = ledger.request_pickup(HQ, number, "store", code, store_id="S1")["pickup_id"]
    ready = command(card=number, action="pickup_ready", pickup=pickup, client_id="c-ready-01")
    wrong = devices.sign(replace(ready, pickup="pk_other"), KEY1.key, HERE)
    with pytest.raises(errors.SignatureInvalid):
        ledger.pickup_ready(STORE1, pickup, signature=wrong)
    ledger.pickup_ready(STORE1, pickup, signature=devices.sign(ready, KEY1.key, HERE))
    done = command(card=number, action="pickup_complete", pickup=pickup, client_id="c-done-01")
    ledger.pickup_complete(
        STORE1,
        pickup,
        signature=devices.sign(done, KEY1B.key, HERE),
        credential="card_code",
        code=code,
    )
    events = card_events(ledger, number)
    assert [e["type"] for e in events[-2:]] == ["PICKUP_READY", "PICKUP_COMPLETED"]
    assert events[-2]["data"]["signer"] == KEY1.address
    assert events[-1]["data"]["signer"] == KEY1B.address
    assert events[-1]["data"]["pickup_id"] == pickup


def test_accepted_signed_commands_are_remembered_with_their_leaf(ledger, registry):
    number, code = issue(ledger)
    signature = signed_redeem(KEY1, number, client_id="c-remember-1")
    result = ledger.redeem(STORE1, number, code, signature=signature)
    from anchoring.db import read_transaction

    with read_transaction(ledger._engine) as conn:
        row = devices.find_use(conn, KEY1.address, "c-remember-1")
        count = conn.execute(device_commands.select()).all()
    assert len(count) == 1
    assert devices.outcome_json(row) == {
        "client_id": "c-remember-1",
        "status": "accepted",
        "card_number": number,
        "state": "REDEEMED",
        "leaf_index": result["leaf_index"],
    }
    assert json.loads(json.dumps(devices.outcome_json(row))) == devices.outcome_json(row)


def test_device_signature_repr_holds_no_private_key():
    signed = devices.sign(command(), KEY1.key, HERE)
    assert KEY1.key.hex() not in repr(signed)
    assert isinstance(signed, DeviceSignature)
