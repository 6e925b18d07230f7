"""Write the card map test vectors (docs/card-map.md, "Test vectors") beside this file.

    python tests/vectors/card-map/generate.py

Deterministic: keys and values come from SHA-256 of fixed labels, so running it again
rewrites the same bytes. Each case is a valid proof or one mutation of a valid proof, named
for what is wrong; its ``expected`` says the verdict the verifier must reach.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from anchoring import cardmap  # noqa: E402
from anchoring.cardmap import CardHead, MapProof  # noqa: E402
from anchoring.errors import MapProofShapeError, MapRootMismatchError  # noqa: E402

Case = dict[str, Any]


def _h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _map(count: int, label: str) -> dict[bytes, bytes]:
    return {
        _h(f"{label} key {i}"): CardHead(i % 5, 100 + 3 * i, _h(f"{label} leaf {i}")).encode()
        for i in range(count)
    }


ENTRIES = _map(40, "card-map vectors")
ROOT = cardmap.map_root(ENTRIES)
KEYS = sorted(ENTRIES)


def _deepest_key() -> bytes:
    """The present key with the longest proof: the mutations have most to work on."""
    return max(KEYS, key=lambda k: (len(cardmap.prove_in_memory(ENTRIES, k).siblings), k))


def _absent_key(ends_at_other: bool) -> bytes:
    """The first absent key (by label) whose path ends at another entry, or at EMPTY."""
    for j in range(10_000):
        key = _h(f"card-map vectors absent {j}")
        if (cardmap.prove_in_memory(ENTRIES, key).other_leaf is not None) == ends_at_other:
            return key
    raise RuntimeError("no such absent key")


def _verdict(key: bytes, value: bytes | None, proof_json: Any, root: bytes) -> dict[str, Any]:
    try:
        cardmap.verify_map_proof(key, value, MapProof.from_json(proof_json), root)
    except MapProofShapeError:
        return {"valid": False, "error": "shape"}
    except MapRootMismatchError:
        return {"valid": False, "error": "root_mismatch"}
    return {"valid": True, "error": None}


def _case(
    description: str,
    key: bytes,
    value: bytes | None,
    proof_json: Any,
    entries: dict[bytes, bytes] = ENTRIES,
    root: bytes | None = None,
) -> Case:
    root = cardmap.map_root(entries) if root is None else root
    return {
        "description": description,
        "entries": [{"key": k.hex(), "value": v.hex()} for k, v in sorted(entries.items())],
        "root": root.hex(),
        "key": key.hex(),
        "value": None if value is None else value.hex(),
        "proof": proof_json,
        "expected": _verdict(key, value, proof_json, root),
    }


def _proof(key: bytes, entries: dict[bytes, bytes] = ENTRIES) -> dict[str, Any]:
    return cardmap.prove_in_memory(entries, key).to_json()


def _flip_byte(hex_text: str, position: int, mask: int = 0x01) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[position] ^= mask
    return raw.hex()


def _with_bitmap_bit(proof: dict[str, Any], bit: int) -> dict[str, Any]:
    raw = int(proof["bitmap"], 16) ^ (1 << (255 - bit))
    return {**proof, "bitmap": raw.to_bytes(32, "big").hex()}


def _set_bits(proof: dict[str, Any]) -> list[int]:
    raw = int(proof["bitmap"], 16)
    return [i for i in range(256) if raw >> (255 - i) & 1]


def cases() -> dict[str, Case]:
    """Every case by file name (without ``.json``)."""
    key = _deepest_key()
    value = ENTRIES[key]
    good = _proof(key)
    bits = _set_bits(good)
    head = CardHead.decode(value)
    other_key = next(k for k in KEYS if k != key)
    empty_key = _absent_key(ends_at_other=False)
    beside_key = _absent_key(ends_at_other=True)
    beside = _proof(beside_key)
    single = dict([next(iter(ENTRIES.items()))])
    single_key = next(iter(single))
    lone_bits = [b for b in range(bits[-1]) if b not in bits]
    out: dict[str, Callable[[], Case]] = {
        "valid-membership": lambda: _case("the card's head at its path", key, value, good),
        "valid-membership-single-entry": lambda: _case(
            "a map of one entry: the root is that entry's leaf, the proof is empty",
            single_key,
            single[single_key],
            _proof(single_key, single),
            single,
        ),
        "valid-non-membership-empty": lambda: _case(
            "an absent card whose path ends in an empty subtree", empty_key, None, _proof(empty_key)
        ),
        "valid-non-membership-other-leaf": lambda: _case(
            "an absent card whose path ends at another card's entry", beside_key, None, beside
        ),
        "valid-non-membership-empty-map": lambda: _case(
            "any card is absent from the empty map (root: 32 zero bytes)",
            key,
            None,
            _proof(key, {}),
            {},
        ),
        "wrong-root": lambda: _case(
            "the expected root differs in one bit", key, value, good, root=_flipped(ROOT)
        ),
        "flipped-bitmap-bit-set": lambda: _case(
            f"bitmap bit {bits[0]} cleared: one sibling too many for the bitmap",
            key,
            value,
            _with_bitmap_bit(good, bits[0]),
        ),
        "flipped-bitmap-bit-clear": lambda: _case(
            f"bitmap bit {lone_bits[0]} set: one sibling too few for the bitmap",
            key,
            value,
            _with_bitmap_bit(good, lone_bits[0]),
        ),
        "bitmap-bit-moved": lambda: _case(
            f"bitmap bit {bits[0]} moved to {lone_bits[0]}: the count holds, the path does not",
            key,
            value,
            _with_bitmap_bit(_with_bitmap_bit(good, bits[0]), lone_bits[0]),
        ),
        "bitmap-deeper-than-siblings": lambda: _case(
            "bitmap bit 255 set with a sibling for it: the lowest sibling is listed, "
            "but the path then passes leaves that stand higher",
            key,
            value,
            {
                **_with_bitmap_bit(good, 255),
                "siblings": [*good["siblings"], cardmap.hash_map_node(ROOT, ROOT).hex()],
            },
        ),
        "truncated-proof": lambda: _case(
            "the last sibling dropped, its bitmap bit kept", key, value, _truncated(good, False)
        ),
        "truncated-path": lambda: _case(
            "the last sibling dropped with its bitmap bit: a shorter path",
            key,
            value,
            _truncated(good, True),
        ),
        "extra-sibling": lambda: _case(
            "one more sibling than the bitmap has bits",
            key,
            value,
            {**good, "siblings": [*good["siblings"], good["siblings"][0]]},
        ),
        "modified-sibling-0": lambda: _case(
            "the top sibling differs in one bit",
            key,
            value,
            {**good, "siblings": [_flip_byte(good["siblings"][0], 31), *good["siblings"][1:]]},
        ),
        "empty-hash-listed-as-sibling": lambda: _case(
            "a listed sibling is 32 zero bytes: empty siblings are bitmap zeros, never listed",
            key,
            value,
            {**good, "siblings": ["00" * 32, *good["siblings"][1:]]},
        ),
        "uppercase-hex-sibling": lambda: _case(
            "a sibling in upper-case hex",
            key,
            value,
            {**good, "siblings": [good["siblings"][0].upper(), *good["siblings"][1:]]},
        ),
        "wrong-key": lambda: _case("the key's last bit flipped", _flipped(key), value, good),
        "wrong-value-seq": lambda: _case(
            "the head's seq is one more than the map's",
            key,
            CardHead(head.seq + 1, head.leaf_index, head.leaf_hash).encode(),
            good,
        ),
        "wrong-value-leaf-index": lambda: _case(
            "the head's leaf_index is one less than the map's",
            key,
            CardHead(head.seq, head.leaf_index - 1, head.leaf_hash).encode(),
            good,
        ),
        "wrong-leaf-hash": lambda: _case(
            "the head's leaf hash differs in one bit",
            key,
            CardHead(head.seq, head.leaf_index, _flipped(head.leaf_hash)).encode(),
            good,
        ),
        "proof-for-another-key": lambda: _case(
            "a valid proof of another card's entry, offered for this card",
            key,
            value,
            _proof(other_key),
        ),
        "absent-claimed-for-present-key": lambda: _case(
            "a proof of presence offered as a proof of absence", key, None, good
        ),
        "present-claimed-with-absence-proof": lambda: _case(
            "a proof of absence (ending at another entry) offered as a proof of presence",
            beside_key,
            value,
            beside,
        ),
        "other-leaf-is-the-key": lambda: _case(
            "a proof of absence whose other_leaf is the key's own entry",
            key,
            None,
            {**good, "other_leaf": {"key": key.hex(), "value": value.hex()}},
        ),
        "other-leaf-off-path": lambda: _case(
            "a proof of absence whose other_leaf leaves the key's path above the proof's end",
            beside_key,
            None,
            {**beside, "other_leaf": _off_path_leaf(beside_key, beside)},
        ),
        "other-leaf-value-changed": lambda: _case(
            "a proof of absence whose other_leaf's value differs in one bit",
            beside_key,
            None,
            {
                **beside,
                "other_leaf": {
                    **beside["other_leaf"],
                    "value": _flip_byte(beside["other_leaf"]["value"], 47),
                },
            },
        ),
    }
    return {name: make() for name, make in out.items()}


def _flipped(value: bytes) -> bytes:
    return value[:-1] + bytes([value[-1] ^ 1])


def _truncated(proof: dict[str, Any], with_bit: bool) -> dict[str, Any]:
    shorter = {**proof, "siblings": proof["siblings"][:-1]}
    return _with_bitmap_bit(shorter, _set_bits(proof)[-1]) if with_bit else shorter


def _off_path_leaf(key: bytes, proof: dict[str, Any]) -> dict[str, str]:
    depth = _set_bits(proof)[-1] + 1
    for candidate in KEYS:
        if cardmap.common_prefix_bits(candidate, key) < depth:
            return {"key": candidate.hex(), "value": ENTRIES[candidate].hex()}
    raise RuntimeError("every key shares the path")


def roots() -> list[dict[str, Any]]:
    """Maps of 0, 1, 2, 3 and 40 entries with their roots."""
    maps = [{}, _map(1, "roots"), _map(2, "roots"), _map(3, "roots"), ENTRIES]
    return [
        {
            "entries": [{"key": k.hex(), "value": v.hex()} for k, v in sorted(m.items())],
            "root": cardmap.map_root(m).hex(),
        }
        for m in maps
    ]


def main() -> None:
    """Rewrite every case file and roots.json."""
    for old in HERE.glob("*.json"):
        old.unlink()
    for name, case in cases().items():
        (HERE / f"{name}.json").write_text(json.dumps(case, indent=1) + "\n")
    (HERE / "roots.json").write_text(json.dumps(roots(), indent=1) + "\n")


if __name__ == "__main__":
    main()
