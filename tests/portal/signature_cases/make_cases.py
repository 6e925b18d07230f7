"""Write the device-signature cases that signatures.js is held to, one case per file.

Each file holds a logged event (as the bundle carries it), the card number, the store keys
the server publishes, and what eth-account says: the address the signature recovers to
(or null when eth-account refuses it) and whether the event's signer is a listed key.
Run from the project root: ``.venv/bin/python tests/portal/signature_cases/make_cases.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account

from ledger_service import devices

HERE = Path(__file__).resolve().parent
CARD = "23456789ABCDEFGH8"
DEVICE = Account.from_key(bytes([31] * 32))
OTHER = Account.from_key(bytes([32] * 32))
KEYS = {"S1": [DEVICE.address], "S2": [OTHER.address]}
N = devices._N


def event(type_, store, data, signed):
    return {
        "leaf_index": 7,
        "card": "ab" * 32,
        "seq": 2,
        "type": type_,
        "occurred_at": signed.signed_at,
        "recorded_at": "2026-11-24T09:00:00.000Z",
        "actor": {"role": "store", "id": "tok_0123456789ab"},
        "store_id": store,
        "data": {**data, **signed.to_json()},
        "prev_event_hash": "cd" * 32,
        "nonce": "ef" * 16,
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
        return devices.recover_signer(cmd, data["signature"])
    except Exception:  # noqa: BLE001 - any refusal by eth-account means "does not recover"
        return None


def case(name, ev, keys=KEYS):
    got = recovered(ev)
    signer = ev["data"]["signer"]
    ok = got is not None and got == signer
    listed = ok and signer in keys.get(ev["store_id"], [])
    doc = {
        "card_number": CARD,
        "store_keys": keys,
        "event": ev,
        "want": {"recovered": got, "ok": ok, "registered": listed},
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
):
    return devices.sign(devices.StoreCommand(card, action, store, pickup, time, client_id), key.key)


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
