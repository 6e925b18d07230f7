"""Write the bundle test cases in this folder: one valid bundle and one file per mutation.

Run ``.venv/bin/python tests/anchoring/bundles/generate.py`` after changing the format.
Everything is deterministic (fixed salts and nonces), so the files only change when this
script does. Each case holds the bundle, the chain the stubs answer for (its chain id, the
roots ``rootAt`` returns, and what ``latestCheckpoint()`` and the anchoring logs say: the
newest tree size and ``newer_age``, the chain seconds since the first checkpoint larger
than the bundle's), the card the verifier asked about, and what must happen: which checks
fail, which hold with a warning, and why.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import rfc8785

from anchoring import merkle

HERE = Path(__file__).resolve().parent
CHAIN_ID = 31337
CONTRACT = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
CARD_A = "CT7K2M9Q4X8P3R6WZ"
CARD_B = "CT3H8N5V2D9L4F7QA"
SALT_A = bytes(range(16))
SALT_B = bytes(range(16, 32))
STORES = ["S-SH-01", "S-BJ-02"]


def _card(salt: bytes, number: str) -> str:
    return hashlib.sha256(salt + number.encode("ascii")).hexdigest()


def _event(
    leaf_index: int,
    card: str,
    seq: int,
    kind: str,
    prev: str,
    store: str | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    minute = 10 + leaf_index
    return {
        "leaf_index": leaf_index,
        "card": card,
        "seq": seq,
        "type": kind,
        "occurred_at": f"2026-11-24T06:{minute:02d}:10.123Z",
        "recorded_at": f"2026-11-24T06:{minute:02d}:10.456Z",
        "actor": {"role": "store" if store else "hq", "id": f"tok_{leaf_index:04x}"},
        "store_id": store,
        "data": data,
        "prev_event_hash": prev,
        "nonce": hashlib.sha256(b"nonce" + bytes([leaf_index])).hexdigest()[:32],
    }


# The log: card A's story at leaves 2, 5, 6, 9 and 12; card B's at 0, 3, 7; fillers else.
STORY_A = [
    (
        2,
        "ISSUED",
        None,
        {"batch_ref": "B-2026-11", "product": "Moutai 53% 500ml", "expires_at": None},
    ),
    (5, "CLAIMED", None, {"holder_ref": "h_3f9a"}),
    (6, "PICKUP_REQUESTED", "S-SH-01", {"pickup_id": "P-0001", "mode": "store"}),
    (9, "PICKUP_READY", "S-SH-01", {"pickup_id": "P-0001"}),
    (12, "PICKUP_COMPLETED", "S-SH-01", {"pickup_id": "P-0001"}),
]
STORY_B = [
    (
        0,
        "ISSUED",
        None,
        {"batch_ref": "B-2026-10", "product": "礼盒 — 龙井 🍵", "expires_at": None},
    ),
    (
        3,
        "BLOCKED",
        None,
        {
            "reason": 'report "lost" \\ tab\t nl\n ls\u2028 ctl\u0001',
            "z": 1,
            "é": True,
            "😀": None,
            "\uffff": [1, -2, 0],
            "A": {"b": [], "a": {}},
        },
    ),
    (7, "UNBLOCKED", None, {"reason": "found"}),
]
TREE_SIZE = 11  # anchored; leaf 12 (and the fillers 10, 11) came later
NEWER_SIZE = 13  # anchored after TREE_SIZE in the "stale" cases: it covers leaf 12


def _story(number: str, salt: bytes, story: list) -> list[dict[str, Any]]:
    card = _card(salt, number)
    events, prev = [], "0" * 64
    for seq, (leaf, kind, store, data) in enumerate(story):
        event = _event(leaf, card, seq, kind, prev, store, data)
        events.append(event)
        prev = hashlib.sha256(rfc8785.dumps(event)).hexdigest()
    return events


def build_log(story_a: list[dict[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    """Every leaf of the log by index: card A's and B's events and other cards' fillers."""
    log = {e["leaf_index"]: e for e in _story(CARD_B, SALT_B, STORY_B)}
    log.update({e["leaf_index"]: e for e in story_a or _story(CARD_A, SALT_A, STORY_A)})
    for leaf in range(13):
        if leaf not in log:
            other = _card(bytes([leaf]) * 16, f"CTFILLER{leaf:09d}")
            log[leaf] = _event(leaf, other, 0, "ISSUED", "0" * 64, None, {"batch_ref": "B-0"})
    return log


def make_bundle(
    number: str,
    salt: bytes,
    events: list[dict[str, Any]],
    log: dict[int, dict[str, Any]],
    tree_size: int | None = TREE_SIZE,
) -> dict[str, Any]:
    """A bundle as the portal serves it: events below ``tree_size`` proven, the rest pending."""
    leaves = [merkle.hash_leaf(rfc8785.dumps(log[i])) for i in range(len(log))]
    anchored = leaves[:tree_size] if tree_size else []
    checkpoint = None
    if tree_size:
        checkpoint = {
            "tree_size": tree_size,
            "root": merkle.root(anchored).hex(),
            "chain_id": CHAIN_ID,
            "contract": CONTRACT,
            "tx_hash": "0x" + hashlib.sha256(b"tx").hexdigest(),
            "block_number": 7,
        }
    proven = [e for e in events if tree_size and e["leaf_index"] < tree_size]
    return {
        "format": "cardtrail-bundle/1",
        "card_number": number,
        "card_salt": salt.hex(),
        "checkpoint": checkpoint,
        "events": [
            {
                "leaf_index": e["leaf_index"],
                "event": e,
                "inclusion_proof": [
                    h.hex() for h in merkle.inclusion_proof(anchored, e["leaf_index"])
                ],
            }
            for e in proven
        ],
        "pending": [{"leaf_index": e["leaf_index"], "event": e} for e in events[len(proven) :]],
    }


def _real_roots(log: dict[int, dict[str, Any]], *sizes: int) -> dict[str, str]:
    leaves = [merkle.hash_leaf(rfc8785.dumps(log[i])) for i in range(len(log))]
    return {str(size): merkle.root(leaves[:size]).hex() for size in sizes or (TREE_SIZE,)}


def _flip(hex_hash: str) -> str:
    raw = bytearray(bytes.fromhex(hex_hash))
    raw[3] ^= 0x10
    return raw.hex()


def cases() -> dict[str, dict[str, Any]]:
    """Every case by file name (without ``.json``)."""
    log = build_log()
    roots = _real_roots(log)
    events_a = [log[leaf] for leaf, *_ in STORY_A]
    events_b = [log[leaf] for leaf, *_ in STORY_B]
    valid = make_bundle(CARD_A, SALT_A, events_a, log)
    out: dict[str, dict[str, Any]] = {}

    def case(
        name: str,
        description: str,
        bundle: dict[str, Any],
        failed: list[str],
        reasons: dict[str, str] | None = None,
        card: str | None = CARD_A,
        chain_id: int = CHAIN_ID,
        chain_roots: dict[str, str] | None = None,
        newer_age: int | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        chain_roots = roots if chain_roots is None else chain_roots
        newest = max(map(int, chain_roots), default=0)
        out[name] = {
            "description": description,
            "card_number": card,
            "chain": {
                "chain_id": chain_id,
                "roots": chain_roots,
                "latest": {"tree_size": newest, "newer_age": newer_age},
            },
            "want": {
                "ok": not failed,
                "failed": failed,
                "warnings": warnings or [],
                "reasons": reasons or {},
            },
            "bundle": bundle,
        }

    def mutated() -> dict[str, Any]:
        return copy.deepcopy(valid)

    case("valid", "a genuine card: four anchored events and one pending", valid, [])
    case(
        "valid-unicode-data",
        "card B: event data with CJK, emoji, escapes and keys that sort "
        "differently by code point and by UTF-16 unit",
        make_bundle(CARD_B, SALT_B, events_b, log),
        [],
        card=CARD_B,
    )
    only_pending = make_bundle(CARD_A, SALT_A, events_a, log, tree_size=None)
    case(
        "not-yet-anchored",
        "nothing anchored yet: every event is pending",
        only_pending,
        ["anchor"],
        {"anchor": "no checkpoint"},
        chain_roots={},
    )

    b = mutated()
    b["events"][1]["event"]["data"]["holder_ref"] = "h_0000"
    case(
        "changed-event-field",
        "seq 1's data was edited after the fact",
        b,
        ["chain", "inclusion[5]"],
        {"inclusion[5]": "calculated root", "chain": "seq 2: prev_event_hash"},
    )

    b = mutated()
    b["events"][3]["event"]["store_id"] = "S-BJ-02"
    case(
        "changed-last-proven-event-field",
        "the newest anchored event names another store",
        b,
        ["chain", "inclusion[9]"],
        {"inclusion[9]": "calculated root", "chain": "seq 4: prev_event_hash"},
    )

    b = mutated()
    proof = b["events"][1]["inclusion_proof"]
    proof[0], proof[1] = proof[1], proof[0]
    case(
        "swapped-proof-hash",
        "two hashes of one inclusion proof swapped",
        b,
        ["inclusion[5]"],
        {"inclusion[5]": "calculated root"},
    )

    b = mutated()
    b["events"][2]["inclusion_proof"][2] = _flip(b["events"][2]["inclusion_proof"][2])
    case(
        "modified-proof-hash",
        "one bit of one proof hash flipped",
        b,
        ["inclusion[6]"],
        {"inclusion[6]": "calculated root"},
    )

    b = mutated()
    b["events"][0]["inclusion_proof"].pop()
    case(
        "truncated-proof",
        "an inclusion proof lost its last hash",
        b,
        ["inclusion[2]"],
        {"inclusion[2]": "wrong proof size"},
    )

    b = mutated()
    b["checkpoint"]["root"] = _flip(b["checkpoint"]["root"])
    case(
        "wrong-checkpoint-root",
        "the checkpoint's root is not the anchored one",
        b,
        ["inclusion[2]", "inclusion[5]", "inclusion[6]", "inclusion[9]", "anchor"],
        {"anchor": "contract holds root"},
    )

    # A server rewriting history: the pickup never happened, the whole tree rebuilt.
    forged_events = _story(CARD_A, SALT_A, STORY_A[:2])
    forged_log = build_log(forged_events)
    for leaf in (6, 9, 12):
        forged_log[leaf] = _event(
            leaf, _card(b"\x09" * 16, "CTFORGED"), 0, "ISSUED", "0" * 64, None, {"batch_ref": "B-0"}
        )
    case(
        "forged-tree-not-anchored",
        "history rewritten and every proof rebuilt: the proofs "
        "agree with the bundle's root, but the chain holds another",
        make_bundle(CARD_A, SALT_A, forged_events, forged_log),
        ["anchor"],
        {"anchor": "contract holds root"},
    )

    b = mutated()
    del b["events"][1]
    case(
        "removed-middle-event",
        "the claim (seq 1) was left out",
        b,
        ["chain"],
        {"chain": "seq 1 is missing"},
    )

    b = mutated()
    del b["events"][0]
    case(
        "removed-first-event",
        "the issue event (seq 0) was left out",
        b,
        ["chain"],
        {"chain": "seq 0 is missing"},
    )

    b = mutated()
    b["events"][1], b["events"][2] = b["events"][2], b["events"][1]
    case("reordered-events", "two events swapped places", b, ["chain"], {"chain": "out of order"})

    b = mutated()
    b["events"].insert(2, copy.deepcopy(b["events"][1]))
    case("duplicated-event", "seq 1 given twice", b, ["chain"], {"chain": "seq 1 is given twice"})

    b = mutated()
    b["card_number"], b["card_salt"] = CARD_B, SALT_B.hex()
    case(
        "events-of-another-card",
        "card B's number and salt around card A's events",
        b,
        ["commitment"],
        {"commitment": "belongs to another card"},
        card=CARD_B,
    )

    case(
        "bundle-for-another-card",
        "a genuine bundle, but of card B, for a visitor asking about card A",
        make_bundle(CARD_B, SALT_B, events_b, log),
        ["card"],
        {"card": f"not {CARD_A}"},
    )

    b = mutated()
    b["card_salt"] = SALT_B.hex()
    case(
        "wrong-card-salt",
        "the salt does not open the commitment",
        b,
        ["commitment"],
        {"commitment": "belongs to another card"},
    )

    case(
        "wrong-chain-id",
        "the RPC endpoint serves another chain",
        mutated(),
        ["network", "anchor"],
        {"network": "anchored on chain 31337"},
        chain_id=1,
    )

    case(
        "checkpoint-not-on-chain",
        "the contract never anchored this size",
        mutated(),
        ["anchor"],
        {"anchor": "has no root"},
        chain_roots={},
    )

    b = mutated()
    b["checkpoint"]["tree_size"] = 12
    case(
        "wrong-tree-size",
        "the checkpoint claims a larger tree with the same root",
        b,
        ["anchor"],
        {"anchor": "has no root"},
    )

    b = mutated()
    moved = b["events"].pop()
    b["pending"].insert(0, {"leaf_index": moved["leaf_index"], "event": moved["event"]})
    case(
        "pending-inside-anchored-tree",
        "an anchored event shown as pending, without proof",
        b,
        ["pending"],
        {"pending": "inside the anchored tree"},
    )

    b = mutated()
    b["events"][0]["event"]["data"]["price"] = 1.5
    case(
        "float-in-event",
        "a float, which canonicalises differently across languages",
        b,
        ["format"],
        {"format": "not an integer"},
    )

    b = mutated()
    b["format"] = "cardtrail-bundle/0"
    case("unknown-format", "an unknown format string", b, ["format"], {"format": "unknown format"})

    # A server handing out the genuine bundle of an older checkpoint, the pickup's
    # completion (leaf 12, anchored since at size 13) left out: every proof is true.
    stale = mutated()
    stale["pending"] = []
    newer_roots = _real_roots(log, TREE_SIZE, NEWER_SIZE)
    case(
        "stale-checkpoint",
        "a genuine bundle of the previous checkpoint, served 30 s after "
        "the chain moved on, its later event left out: a warning",
        stale,
        [],
        {"freshness": f"newer checkpoint (size {NEWER_SIZE}"},
        chain_roots=newer_roots,
        newer_age=30,
        warnings=["freshness"],
    )
    case(
        "stale-checkpoint-past-grace",
        "the same stale bundle served an hour after the chain moved on",
        copy.deepcopy(stale),
        ["freshness"],
        {"freshness": "out of date or hiding them"},
        chain_roots=newer_roots,
        newer_age=3600,
    )

    b = mutated()
    b["events"][1]["leaf_index"] = 4
    case(
        "leaf-index-mismatch",
        "the wrapper's leaf_index differs from the event's",
        b,
        ["format"],
        {"format": "differs from the event's own"},
    )
    return out


def main() -> None:
    """Rewrite every ``*.json`` case in this folder."""
    for old in HERE.glob("*.json"):
        old.unlink()
    for name, body in cases().items():
        text = json.dumps(body, indent=1, ensure_ascii=False) + "\n"
        (HERE / f"{name}.json").write_text(text, encoding="utf-8")
    print(f"wrote {len(cases())} cases to {HERE}")


if __name__ == "__main__":
    main()
