"""Write the device-signature cases that signatures.js is held to, one case per file.

Each file holds a logged event (as the bundle carries it), the card number, the store keys
and deployments the server publishes, and what eth-account says: the address the signature
recovers to for the deployment the event names (or under the version 1 domain when it names
none; null when eth-account refuses it), whether that is the event's signer for a listed
deployment, whether the signer is a listed key, and whether the signature is bound to a
deployment. Run from the project root:
``.venv/bin/python tests/portal/signature_cases/make_cases.py``.
"""

from __future__ import annotations

import json
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
    """A logged event of ``signed``, naming ``deployment`` (None: a version 1 event)."""
    named = {} if deployment is None else {"deployment": deployment.to_json()}
    return {
        "leaf_index": 7,
        "card": "ab" * 32,
        "seq": 2,
        "type": type_,
        "occurred_at": signed.signed_at,
        "recorded_at": "2026-11-24T09:00:00.000Z",
        "actor": {"role": "store", "id": "tok_0123456789ab"},
        "store_id": store,
        "data": {**data, **signed.to_json(), **named},
        "prev_event_hash": "cd" * 32,
        "nonce": "ef" * 16,
    }


def unbound_typed_data(cmd):
    """The version 1 document: a domain of name and version only (events before domains
    named their deployment)."""
    doc = cmd.typed_data(THIS)
    return {
        **doc,
        "types": {**doc["types"], "EIP712Domain": doc["types"]["EIP712Domain"][:2]},
        "domain": {"name": "CardTrail", "version": "1"},
    }


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
        if "deployment" not in data:
            message = encode_typed_data(full_message=unbound_typed_data(cmd))
            return Account.recover_message(message, signature=data["signature"])
        domain = devices.SigningDomain.from_json(data["deployment"])
        return devices.recover_signer(cmd, data["signature"], domain)
    except Exception:  # noqa: BLE001 - any refusal by eth-account means "does not recover"
        return None


def case(name, ev, keys=KEYS, deployments=DEPLOYMENTS):
    got = recovered(ev)
    signer = ev["data"]["signer"]
    named = ev["data"].get("deployment")
    ok = (
        got is not None
        and got == signer
        and (named is None or named in [d.to_json() for d in deployments])
    )
    listed = ok and signer in keys.get(ev["store_id"], [])
    doc = {
        "card_number": CARD,
        "store_keys": keys,
        "deployments": [d.to_json() for d in deployments],
        "event": ev,
        "want": {"recovered": got, "ok": ok, "registered": listed, "bound": named is not None},
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
):
    cmd = devices.StoreCommand(card, action, store, pickup, time, client_id)
    return devices.sign(cmd, key.key, domain)


def signed_unbound(key=DEVICE):
    """A version 1 signature of the valid redemption (as devices made them before)."""
    cmd = devices.StoreCommand(CARD, "redeem", "S1", "", "2026-11-24T06:17:10.123Z", "c-v1-0001")
    made = Account.sign_message(encode_typed_data(full_message=unbound_typed_data(cmd)), key.key)
    return devices.DeviceSignature(
        key.address, "0x" + bytes(made.signature).hex(), cmd.client_id, cmd.time
    )


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
            type(forged)(DEVICE.address, forged.signature, forged.client_id, forged.signed_at),
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
            type(good)(good.signer, "0x" + high.hex(), good.client_id, good.signed_at),
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
            type(good)(good.signer, "0x" + flipped.hex(), good.client_id, good.signed_at),
        ),
    )
    case(
        "bad-v",
        event(
            "REDEEMED",
            "S1",
            {},
            type(good)(
                good.signer, "0x" + (raw[:64] + b"\x1d").hex(), good.client_id, good.signed_at
            ),
        ),
    )
    case(
        "truncated-signature",
        event(
            "REDEEMED",
            "S1",
            {},
            type(good)(good.signer, "0x" + raw[:64].hex(), good.client_id, good.signed_at),
        ),
    )


if __name__ == "__main__":
    main()
