"""The gas measurement's shortcut trees are real RFC 9162 trees, and anchors are measured."""

from __future__ import annotations

import pytest

from anchoring import merkle
from bench.anchor_gas import UniformTree, measure, previous_size

LEAF = merkle.hash_leaf(b"same")


def test_uniform_tree_roots_equal_roots_of_explicit_trees():
    tree = UniformTree(LEAF)
    for size in range(70):
        assert tree.root(size) == merkle.root([LEAF] * size), size


@pytest.mark.parametrize(("size1", "size2"), [(1, 2), (3, 7), (6, 8), (5, 37), (51, 100)])
def test_uniform_tree_consistency_proofs_equal_explicit_proofs(size1, size2):
    tree = UniformTree(LEAF)
    assert tree.consistency_proof(size1, size2) == merkle.consistency_proof([LEAF] * size2, size1)


def test_each_size_is_anchored_from_a_little_over_half_with_a_longer_proof_costing_more():
    small, large = measure([10, 1_000_000])
    assert (small.tree_size, small.from_size) == (10, previous_size(10)) == (10, 6)
    assert (large.tree_size, large.from_size) == (1_000_000, 500_001)
    assert small.proof_hashes < large.proof_hashes
    assert 21_000 < small.gas_used < large.gas_used
