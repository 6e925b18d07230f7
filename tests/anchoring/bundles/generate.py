"""Write the bundle test cases in this folder: one valid bundle and one file per mutation.

Run ``.venv/bin/python tests/anchoring/bundles/generate.py`` after changing the format.
Everything is deterministic (fixed salts and nonces), so the files only change when this
script does. Each case holds the bundle, the chain the stubs answer for (its chain id, the
roots ``rootAt`` returns, and what ``latestCheckpoint()`` and the anchoring logs say: the
newest tree size and ``newer_age``, the chain seconds since the first checkpoint larger
than the bundle's), the card the verifier asked about, and what must happen: which checks
fail, which hold with a warning, and why.

Version 2 cases (``cardtrail-bundle/2``, docs/card-map.md) anchor a tree of 12 leaves whose
last leaf, 11, is the ``CARD_MAP`` leaf over leaves 0–10. A case may also say which format
the issuer ``serves``: a verifier pinned to that issuer must then reach ``want_when_pinned``
(a version 1 bundle from an issuer serving version 2 is a downgrade and fails ``complete``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

from anchoring import cardmap, merkle
from anchoring.cardmap_leaf import card_heads, map_leaf_event

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
MAP_LEAF = 11  # version 2: the CARD_MAP leaf over leaves 0-10, ending the anchored tree
V2_SIZE = MAP_LEAF + 1
V1, V2 = "cardtrail-bundle/1", "cardtrail-bundle/2"


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


def _map_entries(log: dict[int, dict[str, Any]], size: int) -> dict[bytes, bytes]:
    leaves = [(i, rfc8785.dumps(log[i])) for i in range(size)]
    heads = card_heads((i, data, merkle.hash_leaf(data)) for i, data in leaves)
    return {key: head.encode() for key, head in heads.items()}


def build_log_v2() -> dict[int, dict[str, Any]]:
    """The log of version 2 cases: leaf 11 is the CARD_MAP leaf over leaves 0-10."""
    log = build_log()
    root = cardmap.map_root(_map_entries(log, MAP_LEAF))
    cards = len(_map_entries(log, MAP_LEAF))
    stamp = datetime(2026, 11, 24, 6, 21, 10, 789000, tzinfo=UTC)
    log[MAP_LEAF] = map_leaf_event(MAP_LEAF, root, cards, cards, stamp)
    return log


def make_bundle_v2(
    number: str, salt: bytes, events: list[dict[str, Any]], log: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """A version 2 bundle as the portal serves it, at the tree ending with the map leaf."""
    bundle = make_bundle(number, salt, events, log, tree_size=V2_SIZE)
    leaves = [merkle.hash_leaf(rfc8785.dumps(log[i])) for i in range(V2_SIZE)]
    key = bytes.fromhex(_card(salt, number))
    proof = cardmap.prove_in_memory(_map_entries(log, MAP_LEAF), key)
    return {
        **bundle,
        "format": V2,
        "card_map": {
            "leaf_index": MAP_LEAF,
            "event": log[MAP_LEAF],
            "inclusion_proof": [h.hex() for h in merkle.inclusion_proof(leaves, MAP_LEAF)],
            "proof": proof.to_json(),
        },
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
        serves: str | None = None,
        want_when_pinned: dict[str, Any] | None = None,
    ) -> None:
        chain_roots = roots if chain_roots is None else chain_roots
        newest = max(map(int, chain_roots), default=0)
        warnings = list(warnings or [])
        if bundle.get("format") == V1 and "format" not in failed:
            # Version 1 proves nothing about later events: `complete` holds with a warning.
            warnings.insert(0, "complete")
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
                "warnings": warnings,
                "reasons": reasons or {},
            },
            "bundle": bundle,
        }
        if serves is not None:
            out[name]["serves"] = serves
            out[name]["want_when_pinned"] = want_when_pinned

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
    _v2_cases(case)
    _balance_cases(case)
    return out


def _v2_cases(case: Any) -> None:
    """The version 2 cases: the card map proves that no later event was left out."""
    log = build_log_v2()
    roots = _real_roots(log, V2_SIZE)
    events_a = [log[leaf] for leaf, *_ in STORY_A]
    events_b = [log[leaf] for leaf, *_ in STORY_B]
    valid = make_bundle_v2(CARD_A, SALT_A, events_a, log)

    def mutated() -> dict[str, Any]:
        return copy.deepcopy(valid)

    case(
        "valid-v2",
        "version 2: four anchored events, the last one the card's head in the card map, "
        "and one pending",
        valid,
        [],
        chain_roots=roots,
    )
    case(
        "valid-v2-unicode-data",
        "version 2, card B: its last event is its head; nothing pending",
        make_bundle_v2(CARD_B, SALT_B, events_b, log),
        [],
        card=CARD_B,
        chain_roots=roots,
    )
    # The server drops the card's newest anchored event (and what came after it): every
    # inclusion proof and the per-card chain still hold. Only the card map shows it.
    truncated = make_bundle_v2(CARD_A, SALT_A, events_a[:3], log)
    case(
        "truncated-last-event",
        "version 2, the last anchored event (seq 3, leaf 9) and the pending one left out: "
        "the map's head for the card is seq 3",
        truncated,
        ["complete"],
        {"complete": "seq 2 (leaf 6) is not the card's latest event"},
        chain_roots=roots,
    )
    downgraded = {k: v for k, v in truncated.items() if k != "card_map"}
    downgraded["format"] = V1
    case(
        "truncated-last-event-downgraded",
        "the same truncation served as version 1, which carries no card map: it passes "
        "with the completeness warning, but a verifier pinned to an issuer that serves "
        "version 2 refuses the downgrade",
        downgraded,
        [],
        {"complete": "nothing proves that no later event"},
        chain_roots=roots,
        serves=V2,
        want_when_pinned={
            "ok": False,
            "failed": ["complete"],
            "warnings": [],
            "reasons": {"complete": "a downgrade"},
        },
    )

    b = mutated()
    sibling = b["card_map"]["proof"]["siblings"]
    sibling[0] = _flip(sibling[0])
    case(
        "card-map-proof-modified",
        "one bit of the card's map proof flipped",
        b,
        ["complete"],
        {"complete": "seq 3 (leaf 9) is not the card's latest event"},
        chain_roots=roots,
    )

    b = mutated()
    b["card_map"]["proof"]["siblings"].append(b["card_map"]["proof"]["siblings"][0])
    case(
        "card-map-proof-extra-sibling",
        "the map proof lists one sibling more than its bitmap has bits",
        b,
        ["complete"],
        {"complete": "malformed"},
        chain_roots=roots,
    )

    b = mutated()
    b["card_map"]["proof"] = make_bundle_v2(CARD_B, SALT_B, events_b, log)["card_map"]["proof"]
    case(
        "card-map-proof-of-another-card",
        "card B's valid map proof offered for card A",
        b,
        ["complete"],
        {"complete": "is not the card's latest event"},
        chain_roots=roots,
    )

    b = mutated()
    b["card_map"]["event"]["map_root"] = _flip(b["card_map"]["event"]["map_root"])
    case(
        "card-map-root-altered",
        "the CARD_MAP leaf's map_root edited: the leaf is no longer in the anchored tree",
        b,
        ["complete"],
        {"complete": "not in the checkpoint's tree"},
        chain_roots=roots,
    )

    b = mutated()
    b["card_map"]["leaf_index"] = 10
    case(
        "card-map-leaf-not-last",
        "the card map leaf claimed at leaf 10: the anchored tree does not end with it",
        b,
        ["complete"],
        {"complete": "ends at leaf 11"},
        chain_roots=roots,
    )

    b = mutated()
    del b["card_map"]
    case(
        "card-map-missing",
        "a version 2 bundle without its card_map",
        b,
        ["format"],
        {"format": "card_map must be an object"},
        chain_roots=roots,
    )


# --- value events (docs/bundle-format.md, "Value events") ---------------------------------

CARD_C = "CT9V4L2K7M3P8Q5XR"
SALT_C = bytes(range(32, 48))
VALUE_LEAVES = (0, 1, 3, 4, 6, 7, 9, 12, 13)
"""Card C's events sit at these leaves: 0-9 anchored (leaf 11 is the CARD_MAP leaf), 12
and 13 pending."""


def _issued(kind: str | None, active: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "batch_ref": "B-2026-12",
        "product": "储值卡 500",
        "expires_at": None,
        "face_value": 50000,
        "currency": "CNY",
    }
    if kind is not None:
        data.update(kind=kind, sku="SV-500" if kind != "pickup" else "MT-53", units=None)
        data["active"] = active
    return data


def value_story() -> list[tuple[str, str | None, dict[str, Any]]]:
    """A stored-value card's genuine history: (type, store, data), one per value leaf."""
    return [
        ("ISSUED", None, _issued("stored_value")),
        ("ACTIVATED", "S-SH-01", {"channel": None, "price": 50000, "balance": 50000}),
        ("REDEEMED", "S-SH-01", {"amount": 12000, "balance": 38000}),
        ("REFUNDED", "S-SH-01", {"amount": 2000, "balance": 40000, "refund_of": 3}),
        ("LOADED", "S-BJ-02", {"amount": 10000, "balance": 50000}),
        (
            "ADJUSTED",
            None,
            {
                "amount": -500,
                "balance": 49500,
                "reason_code": "CORRECTION",
                "reason_hash": hashlib.sha256(b"till miscount").hexdigest(),
            },
        ),
        ("BALANCE_SENT", None, {"amount": 9500, "balance": 40000, "counterpart": "ab" * 32}),
        ("REDEEMED", "S-BJ-02", {"amount": 4000, "balance": 36000}),
        ("BALANCE_RECEIVED", None, {"amount": 1000, "balance": 37000, "counterpart": "cd" * 32}),
    ]


def value_bundle(story: list[tuple[str, str | None, dict[str, Any]]]) -> tuple[dict, dict]:
    """Card C's version 2 bundle of ``story`` with every proof genuine, and the chain's
    roots: a case built on it fails (or holds) on its values alone."""
    placed = [(leaf, *step) for leaf, step in zip(VALUE_LEAVES, story, strict=False)]
    events = _story(CARD_C, SALT_C, placed)
    log = {e["leaf_index"]: e for e in events}
    last = max(log, default=0)
    for leaf in range(max(last + 1, V2_SIZE)):
        if leaf not in log and leaf != MAP_LEAF:
            other = _card(bytes([leaf + 64]) * 16, f"CTFILLER{leaf:09d}")
            log[leaf] = _event(leaf, other, 0, "ISSUED", "0" * 64, None, {"batch_ref": "B-0"})
    entries = _map_entries(log, MAP_LEAF)
    stamp = datetime(2026, 11, 24, 6, 21, 10, 789000, tzinfo=UTC)
    log[MAP_LEAF] = map_leaf_event(
        MAP_LEAF, cardmap.map_root(entries), len(entries), len(entries), stamp
    )
    return make_bundle_v2(CARD_C, SALT_C, events, log), _real_roots(log, V2_SIZE)


def _balance_cases(case: Any) -> None:
    """One case per way a card's values can fail to add up, each with genuine proofs."""

    def value_case(
        name: str,
        description: str,
        story: list[tuple[str, str | None, dict[str, Any]]],
        reason: str | None = None,
    ) -> None:
        bundle, roots = value_bundle(story)
        failed = ["balance"] if reason else []
        reasons = {"balance": reason} if reason else {}
        case(name, description, bundle, failed, reasons, card=CARD_C, chain_roots=roots)

    good = value_story()
    value_case(
        "valid-stored-value-history",
        "a stored-value card: activated with 500.00, redeemed, partly refunded, loaded, "
        "adjusted down, balance sent; the last two events pending",
        good,
    )
    value_case(
        "valid-count-card",
        "a count card of 10 uses, activated and used twice",
        [
            ("ISSUED", None, {**_issued("count"), "units": 10}),
            ("ACTIVATED", "S-SH-01", {"channel": None, "price": 30000, "balance": 10}),
            ("REDEEMED", "S-SH-01", {"amount": 1, "balance": 9}),
            ("REDEEMED", "S-SH-01", {"amount": 1, "balance": 8}),
        ],
    )
    value_case(
        "valid-pickup-card-redeemed",
        "a pickup card activated without a balance and redeemed without one: no value events",
        [
            ("ISSUED", None, _issued("pickup")),
            ("ACTIVATED", "S-SH-01", {"channel": None, "price": 150000, "balance": None}),
            ("REDEEMED", "S-SH-01", {}),
        ],
    )

    def changed(index: int, **data: Any) -> list[tuple[str, str | None, dict[str, Any]]]:
        story = copy.deepcopy(good)
        story[index][2].update(data)
        return story

    value_case(
        "balance-does-not-add-up",
        "the LOADED event of 100.00 states a balance 10.00 short",
        changed(4, balance=49000),
        "seq 4: LOADED changes the balance by 10000 from 40000, which leaves 50000, "
        "but the event says 49000",
    )
    value_case(
        "negative-balance",
        "a redemption of 600.00 from 500.00, stated as leaving -100.00",
        changed(2, amount=60000, balance=-10000),
        "seq 2: REDEEMED leaves the balance at -10000: a balance is never negative",
    )
    value_case(
        "refund-increases-more-than-its-amount",
        "a refund of 20.00 that raises the balance by 30.00",
        changed(3, balance=41000),
        "seq 3: REFUNDED changes the balance by 2000 from 38000, which leaves 40000, "
        "but the event says 41000",
    )
    value_case(
        "refund-larger-than-the-redemption",
        "a refund of 130.00 of a redemption of 120.00 (the balance adds up)",
        changed(3, amount=13000, balance=51000),
        "seq 3: REFUNDED brings the refunds of the redemption at leaf 3 to 13000, "
        "more than its amount 12000",
    )
    value_case(
        "refund-of-no-redemption",
        "a refund naming the LOADED leaf, not a redemption",
        changed(3, refund_of=6),
        "seq 3: REFUNDED refund_of is not the leaf index of an earlier redemption of this card",
    )
    value_case(
        "adjusted-with-wrong-sign",
        "an adjustment of -5.00 booked as a credit",
        changed(5, balance=50500),
        "seq 5: ADJUSTED changes the balance by -500 from 50000, which leaves 49500, "
        "but the event says 50500",
    )
    value_case(
        "adjusted-by-zero",
        "an adjustment of nothing",
        changed(5, amount=0, balance=50000),
        "seq 5: ADJUSTED amount must be an integer ≠ 0",
    )
    value_case(
        "redeemed-with-negative-amount",
        "a redemption of -20.00 that raises the balance",
        changed(2, amount=-2000, balance=52000),
        "seq 2: REDEEMED amount must be an integer > 0",
    )
    value_case(
        "pending-balance-does-not-add-up",
        "the last, pending event states a balance that does not follow",
        changed(8, balance=38000),
        "seq 8: BALANCE_RECEIVED changes the balance by 1000 from 36000, which leaves 37000, "
        "but the event says 38000",
    )
    pickup = [
        ("ISSUED", None, _issued(None)),
        ("ACTIVATED", "S-SH-01", {"channel": None, "price": 150000, "balance": None}),
        ("LOADED", "S-SH-01", {"amount": 10000, "balance": 10000}),
        ("REDEEMED", "S-SH-01", {"amount": 10000, "balance": 0}),
    ]
    value_case(
        "value-events-on-a-pickup-card",
        "an old pickup card (ISSUED without a kind) loaded and redeemed like a stored-value card",
        pickup,
        "seq 2: LOADED on a pickup card: only stored_value and count cards hold a balance",
    )
    value_case(
        "value-event-before-an-opening-balance",
        "a stored-value card issued inactive and loaded without ever being activated",
        [
            ("ISSUED", None, _issued("stored_value")),
            ("LOADED", "S-SH-01", {"amount": 10000, "balance": 10000}),
        ],
        "seq 1: LOADED before any opening balance (no ACTIVATED with a balance, "
        "nor an ISSUED of a card sold at once)",
    )
    sold = [
        ("ISSUED", None, _issued("stored_value", active=True)),
        ("REDEEMED", "S-SH-01", {"amount": 1000, "balance": 49000}),
    ]
    value_case(
        "valid-stored-value-sold-at-issue",
        "an e-card issued sold (active): its ISSUED face value of 500.00 opens the balance",
        sold,
    )
    value_case(
        "activated-after-sold-at-issue",
        "a card sold at issue, then ACTIVATED with a fresh opening balance",
        [*sold, ("ACTIVATED", None, {"channel": None, "price": 50000, "balance": 50000})],
        "seq 2: ACTIVATED opens the balance again (it was opened at seq 0)",
    )
    value_case(
        "activated-twice",
        "a second ACTIVATED that resets the balance",
        [
            *good[:3],
            ("ACTIVATED", "S-SH-01", {"channel": None, "price": 50000, "balance": 50000}),
        ],
        "seq 3: ACTIVATED opens the balance again (it was opened at seq 1)",
    )
    value_case(
        "loaded-count-card",
        "a count card loaded like a stored-value card",
        [
            ("ISSUED", None, {**_issued("count"), "units": 10}),
            ("ACTIVATED", "S-SH-01", {"channel": None, "price": 30000, "balance": 10}),
            ("LOADED", "S-SH-01", {"amount": 5, "balance": 15}),
        ],
        "seq 2: LOADED on a count card: only stored_value cards load",
    )


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
