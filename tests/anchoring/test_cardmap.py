"""The card map's pure rules (anchoring/cardmap.py) and the vectors in tests/vectors/card-map."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring import cardmap
from anchoring.cardmap import CardHead, MapBranch, MapLeaf, MapProof
from anchoring.errors import (
    MapProofShapeError,
    MapRootMismatchError,
    ProofShapeError,
    RootMismatchError,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "card-map"
CASES = sorted(p for p in VECTORS.glob("*.json") if p.name != "roots.json")


def _verdict(case: dict[str, Any]) -> dict[str, Any]:
    key = bytes.fromhex(case["key"])
    value = None if case["value"] is None else bytes.fromhex(case["value"])
    try:
        proof = MapProof.from_json(case["proof"])
        cardmap.verify_map_proof(key, value, proof, bytes.fromhex(case["root"]))
    except MapProofShapeError:
        return {"valid": False, "error": "shape"}
    except MapRootMismatchError:
        return {"valid": False, "error": "root_mismatch"}
    return {"valid": True, "error": None}


def test_vector_folder_holds_valid_and_broken_cases():
    names = [p.stem for p in CASES]
    assert len([n for n in names if n.startswith("valid-")]) >= 4
    assert len(names) >= 20


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_vector_case_reaches_its_expected_verdict(path: Path):
    case = json.loads(path.read_text())
    assert _verdict(case) == case["expected"]
    # A case is valid exactly when its name says so: no mutation slipped through.
    assert case["expected"]["valid"] == path.stem.startswith("valid-")


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_vector_case_entries_rebuild_a_root(path: Path):
    case = json.loads(path.read_text())
    entries = {bytes.fromhex(e["key"]): bytes.fromhex(e["value"]) for e in case["entries"]}
    rebuilt = cardmap.map_root(entries).hex()
    # Only the wrong-root case states a root other than its entries' own.
    assert (rebuilt == case["root"]) == (path.stem != "wrong-root")


def test_roots_file_matches_the_roots_of_its_maps():
    maps = json.loads((VECTORS / "roots.json").read_text())
    assert maps[0] == {"entries": [], "root": "00" * 32}
    for item in maps:
        entries = {bytes.fromhex(e["key"]): bytes.fromhex(e["value"]) for e in item["entries"]}
        assert cardmap.map_root(entries).hex() == item["root"]


def test_generator_rewrites_the_same_cases():
    spec = importlib.util.spec_from_file_location("card_map_generate", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for name, case in generator.cases().items():
        assert json.loads((VECTORS / f"{name}.json").read_text()) == case, name
    assert json.loads((VECTORS / "roots.json").read_text()) == generator.roots()


# --- hashing and encoding -------------------------------------------------------------------


def _key(i: int) -> bytes:
    return hashlib.sha256(b"key %d" % i).digest()


def _value(i: int) -> bytes:
    return CardHead(i, 10 * i, hashlib.sha256(b"leaf %d" % i).digest()).encode()


def test_value_encodes_seq_leaf_index_and_leaf_hash_big_endian():
    head = CardHead(seq=3, leaf_index=258, leaf_hash=bytes(range(32)))
    assert head.encode() == bytes(7) + b"\x03" + bytes(6) + b"\x01\x02" + bytes(range(32))
    assert CardHead.decode(head.encode()) == head


def test_value_refuses_a_short_leaf_hash():
    with pytest.raises(MapProofShapeError, match="leaf hash must be 32 bytes, got 31"):
        CardHead(0, 0, bytes(31)).encode()


def test_leaf_and_node_hashes_use_their_own_prefixes():
    key, value = _key(1), _value(1)
    assert cardmap.hash_map_leaf(key, value) == hashlib.sha256(b"\x02" + key + value).digest()
    left, right = _key(2), _key(3)
    assert cardmap.hash_map_node(left, right) == hashlib.sha256(b"\x03" + left + right).digest()


def test_key_bits_start_at_the_most_significant_bit_of_byte_zero():
    key = bytes([0b1010_0000]) + bytes(30) + b"\x01"
    assert [cardmap.key_bit(key, i) for i in range(4)] == [1, 0, 1, 0]
    assert cardmap.key_bit(key, 255) == 1
    assert cardmap.key_prefix(key, 3) == bytes([0b1010_0000]) + bytes(31)
    assert cardmap.key_prefix(key, 1) == bytes([0b1000_0000]) + bytes(31)


def test_empty_map_root_is_32_zero_bytes():
    assert cardmap.map_root({}) == bytes(32) == cardmap.EMPTY_MAP_ROOT


def test_one_entry_map_root_is_that_entry_leaf():
    assert cardmap.map_root({_key(1): _value(1)}) == cardmap.hash_map_leaf(_key(1), _value(1))


def test_two_entries_split_at_their_first_differing_bit():
    a = bytes(32)
    b = bytes([0x20]) + bytes(31)  # differs from a at bit 2
    la, lb = cardmap.hash_map_leaf(a, _value(1)), cardmap.hash_map_leaf(b, _value(2))
    empty = cardmap.EMPTY_HASH
    depth2 = cardmap.hash_map_node(la, lb)
    expected = cardmap.hash_map_node(cardmap.hash_map_node(depth2, empty), empty)
    assert cardmap.map_root({a: _value(1), b: _value(2)}) == expected


def test_build_subtree_emits_every_non_empty_subtree_children_first():
    a, b = bytes(32), bytes([0x80]) + bytes(31)
    emitted: list[tuple[int, bytes, object]] = []
    cardmap.build_subtree(
        [(a, _value(1)), (b, _value(2))], 0, lambda d, p, n, h: emitted.append((d, p, n))
    )
    assert [(d, type(n).__name__) for d, _, n in emitted] == [
        (1, "MapLeaf"),
        (1, "MapLeaf"),
        (0, "MapBranch"),
    ]


def test_duplicate_keys_are_refused():
    with pytest.raises(MapProofShapeError, match="share one key"):
        cardmap.build_subtree([(_key(1), _value(1)), (_key(1), _value(2))], 0)


# --- proofs ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_every_entry_proves_present_and_other_keys_absent(count: int, seed: int):
    rng = random.Random(seed)
    entries = {rng.randbytes(32): rng.randbytes(48) for _ in range(count)}
    root = cardmap.map_root(entries)
    for key, value in entries.items():
        proof = cardmap.prove_in_memory(entries, key)
        assert cardmap.verify_map_proof(key, value, proof, root) is None
        assert MapProof.from_json(proof.to_json()) == proof
    absent = rng.randbytes(32)
    proof = cardmap.prove_in_memory(entries, absent)
    assert cardmap.verify_map_proof(absent, None, proof, root) is None
    assert MapProof.from_json(proof.to_json()) == proof


def test_a_present_key_cannot_be_proven_absent():
    entries = {_key(i): _value(i) for i in range(8)}
    root = cardmap.map_root(entries)
    proof = cardmap.prove_in_memory(entries, _key(3))
    with pytest.raises(MapRootMismatchError) as caught:
        cardmap.verify_map_proof(_key(3), None, proof, root)
    assert caught.value.expected_root == root


def test_map_errors_are_the_log_errors_kinds():
    assert issubclass(MapRootMismatchError, RootMismatchError)
    assert issubclass(MapProofShapeError, ProofShapeError)
    assert issubclass(MapProofShapeError, ValueError)


def test_proof_over_256_siblings_is_refused():
    proof = MapProof(tuple([b"\x01" * 32] * 257))
    with pytest.raises(MapProofShapeError, match="wrong proof depth 257, want at most 256"):
        cardmap.root_from_map_proof(_key(1), _value(1), proof)


def test_prove_reports_a_missing_stored_node():
    branch = MapBranch(b"\x05" * 32, b"\x06" * 32)
    with pytest.raises(MapProofShapeError, match="lacks its node at depth 1"):
        cardmap.prove(_key(1), lambda depth: branch if depth == 0 else None)


def test_prove_returns_the_value_it_found():
    leaf = MapLeaf(_key(1), _value(1))
    proof, value = cardmap.prove(_key(1), lambda depth: leaf)
    assert (proof, value) == (MapProof(()), _value(1))


def test_memory_map_updated_in_steps_equals_the_map_built_at_once():
    rng = random.Random(11)
    keys = [rng.randbytes(32) for _ in range(80)]
    memory, reference = cardmap.MemoryCardMap(), {}
    for _ in range(6):
        changes = {k: rng.randbytes(48) for k in rng.sample(keys, rng.randrange(1, 30))}
        reference.update(changes)
        assert memory.update(changes) == cardmap.map_root(reference)
        assert memory.size == len(reference)


@pytest.mark.parametrize("bucket_depth", [0, 2, 16])
def test_memory_map_of_any_bucket_depth_equals_the_reference(bucket_depth: int):
    rng = random.Random(bucket_depth)
    keys = [rng.randbytes(32) for _ in range(200)]
    memory, reference = cardmap.MemoryCardMap(bucket_depth), {}
    for _ in range(4):
        changes = {k: rng.randbytes(48) for k in rng.sample(keys, rng.randrange(1, 120))}
        reference.update(changes)
        assert memory.update(changes) == cardmap.map_root(reference)
        assert memory.size == len(reference)


def test_packed_entries_unpack_to_the_same_map():
    entries = {bytes([i]) * 32: CardHead(i, 2 * i, bytes([i]) * 32).encode() for i in range(9)}
    packed = cardmap.pack_entries(sorted(entries.items()))
    assert len(packed) == 9 * cardmap.ENTRY_SIZE and cardmap.unpack_entries(packed) == entries


def test_unpacking_a_torn_record_or_a_key_twice_is_refused():
    packed = cardmap.pack_entries([(bytes(32), bytes(48))])
    with pytest.raises(MapProofShapeError, match="not a whole number"):
        cardmap.unpack_entries(packed[:-1])
    with pytest.raises(MapProofShapeError, match="packed twice"):
        cardmap.unpack_entries(packed + packed)


def test_memory_map_items_are_its_entries_in_key_order():
    keys = [bytes([b]) + bytes(31) for b in (0xF0, 0x00, 0x80, 0x81)]
    memory = cardmap.MemoryCardMap(bucket_depth=4)
    memory.update({key: bytes(48) for key in keys})
    assert [key for key, _ in memory.items()] == sorted(keys)
