"""RFC 9162 hashing and proofs against the reference vectors in tests/vectors/rfc6962."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anchoring import merkle
from anchoring.errors import ProofShapeError, RootMismatchError, VerificationError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc6962"


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _cases(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _case_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_vector_folder_is_present():
    assert len(_cases("inclusion")) > 50 and len(_cases("consistency")) > 50


@pytest.mark.parametrize("path", _cases("inclusion"), ids=_case_id)
def test_inclusion_vector(path: Path):
    case = json.loads(path.read_text())
    args = (
        case["leafIdx"],
        case["treeSize"],
        _b64(case["leafHash"]),
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(*args)
    else:
        assert merkle.verify_inclusion(*args) is None


@pytest.mark.parametrize("path", _cases("consistency"), ids=_case_id)
def test_consistency_vector(path: Path):
    case = json.loads(path.read_text())
    args = (
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        [_b64(p) for p in case["proof"] or []],
    )
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            merkle.verify_consistency(*args)
    else:
        assert merkle.verify_consistency(*args) is None


def _reference_tree() -> tuple[list[bytes], list[bytes]]:
    ref = json.loads((VECTORS / "reference-tree.json").read_text())
    leaves = [merkle.hash_leaf(bytes.fromhex(h)) for h in ref["leaf_inputs_hex"]]
    return leaves, [bytes.fromhex(h) for h in ref["root_hex_by_tree_size"]]


def test_root_of_every_reference_tree_size():
    leaves, roots = _reference_tree()
    for size, want in enumerate(roots):
        assert merkle.root(leaves[:size]) == want, size


def test_generated_proofs_verify_against_reference_roots():
    leaves, roots = _reference_tree()
    for size in range(1, len(leaves) + 1):
        for index in range(size):
            proof = merkle.inclusion_proof(leaves[:size], index)
            merkle.verify_inclusion(index, size, leaves[index], proof, roots[size])
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(leaves[:size], first)
            merkle.verify_consistency(first, size, roots[first], roots[size], proof)


def test_empty_tree_root_is_hash_of_nothing():
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_wrong_root_reports_both_roots():
    leaves, roots = _reference_tree()
    proof = merkle.inclusion_proof(leaves[:5], 2)
    with pytest.raises(RootMismatchError) as err:
        merkle.verify_inclusion(2, 5, leaves[2], proof, roots[4])
    assert err.value.expected_root == roots[4]
    assert err.value.calculated_root == roots[5]


def test_short_proof_says_what_size_was_wanted():
    leaves, roots = _reference_tree()
    proof = merkle.inclusion_proof(leaves, 3)
    with pytest.raises(ProofShapeError, match="wrong proof size 2, want 3"):
        merkle.verify_inclusion(3, 8, leaves[3], proof[:2], roots[8])


def test_shape_errors_are_value_errors():
    with pytest.raises(ValueError):
        merkle.root_from_inclusion_proof(5, 5, b"\x00" * 32, [])


def test_node_presented_as_leaf_is_rejected():
    leaves, roots = _reference_tree()
    node = merkle.hash_children(leaves[0], leaves[1])
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(0, 4, node, merkle.inclusion_proof(leaves[:4], 2)[:1], roots[4])


@given(st.integers(min_value=0, max_value=2**40), st.integers(min_value=1, max_value=2**40))
def test_perfect_subtrees_tile_any_proof_range(start: int, length: int):
    # Every range in a proof starts at a multiple of a power of two at least its length.
    align = 1 << max(length - 1, 0).bit_length()
    start -= start % align
    parts = merkle.perfect_subtrees(start, start + length)
    position = start
    for level, index in parts:
        assert index << level == position
        position += 1 << level
    assert position == start + length
    levels = [level for level, _ in parts]
    assert levels == sorted(levels, reverse=True)


@given(st.data())
def test_range_proofs_match_recursive_definition(data):
    size = data.draw(st.integers(min_value=1, max_value=70))
    leaves = [merkle.hash_leaf(i.to_bytes(4, "big")) for i in range(size)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    first = data.draw(st.integers(min_value=1, max_value=size))
    root = merkle.root(leaves)
    merkle.verify_inclusion(index, size, leaves[index], merkle.inclusion_proof(leaves, index), root)
    old = merkle.root(leaves[:first])
    merkle.verify_consistency(first, size, old, root, merkle.consistency_proof(leaves, first))
