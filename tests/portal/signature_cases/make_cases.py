"""Write the device-signature cases that signatures.js is held to, one case per file.

Each file holds a logged event (as the bundle carries it), the card number, the store keys
and deployments the server publishes, and what eth-account says: the address the signature
recovers to under the domain version the event claims (3 with `signed_amount`, 2 with only
`deployment`, 1 with neither; null when eth-account refuses it), whether that is the
event's signer for a listed deployment and, under version 3, for the amount the event
records, whether the signer is a listed key, whether the signature is bound to a
deployment, the version, the signed amount (null before version 3) and the event's amount
(0 when it records none). Run from the project root:
``.venv/bin/python tests/portal/signature_cases/make_cases.py``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_typed_data

from ledger_service import devices

HERE = Path(__file__).resolve().parent
CARD = "23456789ABCDEFGH8"
DEVICE = Account.from_key(bytes([31] * 32))
OTHER = Account.from_key(bytes([32] * 32))
KEYS = {"S1": [DEVICE.address], "S2": [OTHER.address]}
THIS = devices.SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
ANOTHER_CHAIN = devices.SigningDomain(1, THIS.contract)
ANOTHER_CONTRACT = devices.SigningDomain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
DEPLOYMENTS = [THIS]
"""What the server lists as its deployments."""
N = devices._N


def event(type_, store, data, signed, deployment=THIS):
    """A logged event of ``signed`` (a signature, or its block as a dict), naming
    ``deployment`` (None: a version 1 event)."""
    named = {} if deployment is None else {"deployment": deployment.to_json()}
    block = signed if isinstance(signed, dict) else signed.to_json()
    return {
        "leaf_index": 7,
        "card": "ab" * 32,
        "seq": 2,
        "type": type_,
        "occurred_at": block["signed_at"],
        "recorded_at": "2026-11-24T09:00:00.000Z",
        "actor": {"role": "store", "id": "tok_0123456789ab"},
        "store_id": store,
        "data": {**data, **block, **named},
        "prev_event_hash": "cd" * 32,
        "nonce": "ef" * 16,
    }


def version_2_typed_data(cmd, domain=THIS):
    """The version 2 document: the deployment's domain, a StoreCommand without amount
    (events signed before devices signed amounts)."""
    doc = cmd.typed_data(domain)
    members = [m for m in doc["types"]["StoreCommand"] if m["name"] != "amount"]
    message = {k: v for k, v in doc["message"].items() if k != "amount"}
    return {
        **doc,
        "types": {**doc["types"], "StoreCommand": members},
        "domain": {**doc["domain"], "version": "2"},
        "message": message,
    }


def unbound_typed_data(cmd):
    """The version 1 document: a domain of name and version only (events before domains
    named their deployment), and no amount."""
    doc = version_2_typed_data(cmd)
    return {
        **doc,
        "types": {**doc["types"], "EIP712Domain": doc["types"]["EIP712Domain"][:2]},
        "domain": {"name": "CardTrail", "version": "1"},
    }


def version_of(data):
    if "signed_amount" in data:
        return 3
    return 2 if "deployment" in data else 1


def recovered(ev, card=CARD):
    action = devices.EVENT_ACTIONS.get(ev["type"], ev["type"])
    data = ev["data"]
    cmd = devices.StoreCommand(
        card,
        action,
        ev["store_id"] or "",
        data.get("pickup_id", ""),
        data["signed_at"],
        data["client_id"],
    )
    try:
        version = version_of(data)
        if version == 1:
            message = encode_typed_data(full_message=unbound_typed_data(cmd))
            return Account.recover_message(message, signature=data["signature"])
        domain = devices.SigningDomain.from_json(data["deployment"])
        if version == 2:
            message = encode_typed_data(full_message=version_2_typed_data(cmd, domain))
            return Account.recover_message(message, signature=data["signature"])
        if not devices.is_amount(data["signed_amount"]):
            return None
        cmd = replace(cmd, amount=data["signed_amount"])
        return devices.recover_signer(cmd, data["signature"], domain)
    except Exception:  # noqa: BLE001 - any refusal by eth-account means "does not recover"
        return None


def case(name, ev, keys=KEYS, deployments=DEPLOYMENTS):
    got = recovered(ev)
    data = ev["data"]
    signer = data["signer"]
    named = data.get("deployment")
    version = version_of(data)
    signed_amount = data["signed_amount"] if version == 3 else None
    amount = 0 if data.get("amount") is None else data["amount"]
    ok = (
        got is not None
        and got == signer
        and (version < 3 or signed_amount == amount)
        and (named is None or named in [d.to_json() for d in deployments])
    )
    listed = ok and signer in keys.get(ev["store_id"], [])
    doc = {
        "card_number": CARD,
        "store_keys": keys,
        "deployments": [d.to_json() for d in deployments],
        "event": ev,
        "want": {
            "recovered": got,
            "ok": ok,
            "registered": listed,
            "bound": named is not None,
            "version": version,
            "signed_amount": signed_amount,
            "amount": amount,
        },
    }
    (HERE / f"{name}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def signed(
    action="redeem",
    store="S1",
    pickup="",
    key=DEVICE,
    time="2026-11-24T06:17:10.123Z",
    client_id="c-3f9a2b7c11d0",
    card=CARD,
    domain=THIS,
    amount=0,
):
    cmd = devices.StoreCommand(card, action, store, pickup, time, client_id, amount)
    return devices.sign(cmd, key.key, domain)


def older_block(typed_data, client_id, key=DEVICE):
    """The signature block of a redemption signed under an earlier domain version (as
    devices made them before): no ``signed_amount``."""
    cmd = devices.StoreCommand(CARD, "redeem", "S1", "", "2026-11-24T06:17:10.123Z", client_id)
    made = Account.sign_message(encode_typed_data(full_message=typed_data(cmd)), key.key)
    return {
        "signer": key.address,
        "signature": "0x" + bytes(made.signature).hex(),
        "client_id": cmd.client_id,
        "signed_at": cmd.time,
    }


def signed_unbound():
    """A version 1 signature of the valid redemption: no deployment, no amount."""
    return older_block(unbound_typed_data, "c-v1-0001")


def signed_version_2():
    """A version 2 signature of the valid redemption: its deployment, no amount."""
    return older_block(version_2_typed_data, "c-v2-0001")


def main() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    good = signed()
    case("valid-redeem", event("REDEEMED", "S1", {}, good))
    ready = signed("pickup_ready", pickup="pk_0011223344556677")
    case(
        "valid-pickup-ready",
        event("PICKUP_READY", "S1", {"pickup_id": "pk_0011223344556677"}, ready),
    )
    done = signed("pickup_complete", pickup="pk_0011223344556677", client_id="c-done-000001")
    case(
        "valid-pickup-complete",
        event("PICKUP_COMPLETED", "S1", {"pickup_id": "pk_0011223344556677"}, done),
    )
    case("signer-not-listed-for-store", event("REDEEMED", "S1", {}, good), {"S1": [OTHER.address]})
    forged = signed(key=OTHER)
    case(
        "forged-signer",
        event(
            "REDEEMED",
            "S1",
            {},
            replace(forged, signer=DEVICE.address),
        ),
    )
    case("other-card", event("REDEEMED", "S1", {}, signed(card="3456789ABCDEFGH9J")))
    # Made for another deployment, logged as if made for this one: another key recovers.
    case("signed-for-another-chain", event("REDEEMED", "S1", {}, signed(domain=ANOTHER_CHAIN)))
    case(
        "signed-for-another-contract",
        event("REDEEMED", "S1", {}, signed(domain=ANOTHER_CONTRACT)),
    )
    # Honestly logged as made for another deployment, which this server does not list.
    there = signed(domain=ANOTHER_CONTRACT)
    case("deployment-not-listed", event("REDEEMED", "S1", {}, there, ANOTHER_CONTRACT))
    case(
        "deployment-of-a-redeploy",
        event("REDEEMED", "S1", {}, there, ANOTHER_CONTRACT),
        deployments=[THIS, ANOTHER_CONTRACT],
    )
    # Made before domains named the deployment: recovers with the version 1 domain.
    case("unbound-version-1", event("REDEEMED", "S1", {}, signed_unbound(), None))
    case("version-1-claimed-bound", event("REDEEMED", "S1", {}, signed_unbound()))
    # Amounts (version 3): the device signs the event's amount, 0 when it records none.
    paid = signed(amount=2_500, client_id="c-amount-0001")
    case(
        "valid-redeem-of-an-amount",
        event("REDEEMED", "S1", {"amount": 2_500, "balance": 7_500}, paid),
    )
    case(
        "amount-differs-from-the-signed-one",
        event("REDEEMED", "S1", {"amount": 9_000, "balance": 1_000}, paid),
    )
    case(
        "signed-amount-raised-with-the-amount",
        event(
            "REDEEMED",
            "S1",
            {"amount": 9_000, "balance": 1_000},
            {**paid.to_json(), "signed_amount": 9_000},
        ),
    )
    case(
        "signed-amount-not-an-integer",
        event(
            "REDEEMED",
            "S1",
            {"amount": 2_500, "balance": 7_500},
            {**paid.to_json(), "signed_amount": "2500"},
        ),
    )
    case(
        "amount-on-a-redemption-signed-for-none",
        event("REDEEMED", "S1", {"amount": 2_500, "balance": 7_500}, good),
    )
    signed_ready = signed(
        "pickup_ready", pickup="pk_0011223344556677", amount=500, client_id="c-ready-amount1"
    )
    case(
        "pickup-step-signed-with-an-amount",
        event("PICKUP_READY", "S1", {"pickup_id": "pk_0011223344556677"}, signed_ready),
    )
    # Made before devices signed amounts: recovers with the version 2 domain and type.
    case("valid-version-2-redeem", event("REDEEMED", "S1", {}, signed_version_2()))
    case(
        "version-2-amount-not-signed",
        event("REDEEMED", "S1", {"amount": 2_500, "balance": 7_500}, signed_version_2()),
    )
    case(
        "version-2-claimed-version-3",
        event("REDEEMED", "S1", {}, {**signed_version_2(), "signed_amount": 0}),
    )
    stripped = {k: v for k, v in good.to_json().items() if k != "signed_amount"}
    case("version-3-claimed-version-2", event("REDEEMED", "S1", {}, stripped))
    ev = event("REDEEMED", "S1", {}, good)
    ev["data"]["signed_at"] = "2026-11-24T06:17:10.124Z"
    case("changed-signed-at", ev)
    ev = event("REDEEMED", "S1", {}, good)
    ev["data"]["client_id"] = "c-3f9a2b7c11d1"
    case("changed-client-id", ev)
    ev = event("REDEEMED", "S2", {}, good)
    case("changed-store", ev)
    ev = event("PICKUP_READY", "S1", {"pickup_id": "pk_ffffffffffffffff"}, ready)
    case("changed-pickup", ev)
    raw = bytes.fromhex(good.signature[2:])
    high = (
        raw[:32]
        + (N - int.from_bytes(raw[32:64], "big")).to_bytes(32, "big")
        + bytes([55 - raw[64]])
    )
    case(
        "high-s-twin",
        event(
            "REDEEMED",
            "S1",
            {},
            replace(good, signature="0x" + high.hex()),
        ),
    )
    flipped = bytearray(raw)
    flipped[5] ^= 0x10
    case(
        "flipped-bit-in-r",
        event(
            "REDEEMED",
            "S1",
            {},
            replace(good, signature="0x" + flipped.hex()),
        ),
    )
    case(
        "bad-v",
        event(
            "REDEEMED",
            "S1",
            {},
            replace(good, signature="0x" + (raw[:64] + b"\x1d").hex()),
        ),
    )
    case(
        "truncated-signature",
        event(
            "REDEEMED",
            "S1",
            {},
            replace(good, signature="0x" + raw[:64].hex()),
        ),
    )


if __name__ == "__main__":
    main()
