"""The audit's card map, replayed from entry hashes, has the roots of the reference map."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from anchoring.cardmap import EMPTY_MAP_ROOT, CardHead, MemoryCardMap, hash_map_leaf, map_root
from ledger_service import audit_pool
from ledger_service.audit_map import HashedMap, bucket_hashes, entry_hash, map_key


def _head(rng: random.Random) -> CardHead:
    return CardHead(rng.randrange(1 << 20), rng.randrange(1 << 40), rng.randbytes(32))


def test_entry_hash_is_the_map_leaf_of_the_card_head():
    rng = random.Random(1)
    key, head = rng.randbytes(32), _head(rng)
    assert entry_hash(key, head.seq, head.leaf_index, head.leaf_hash) == hash_map_leaf(
        key, head.encode()
    )


@pytest.mark.parametrize("bucket_depth", [0, 1, 4, 16])
def test_updates_give_the_reference_roots_and_sizes(bucket_depth):
    rng = random.Random(bucket_depth)
    reference, hashed = MemoryCardMap(bucket_depth), HashedMap(bucket_depth)
    assert hashed.update({}) == EMPTY_MAP_ROOT
    keys: list[bytes] = []
    # Keys sharing long prefixes too: their subtrees run deep below the buckets.
    base = rng.randbytes(32)
    for round_ in range(6):
        changes = {}
        for _ in range(rng.randrange(1, 200)):
            if keys and rng.random() < 0.3:
                key = rng.choice(keys)  # a card's next event
            elif rng.random() < 0.2:
                cut = rng.randrange(1, 31)
                key = base[:cut] + rng.randbytes(32 - cut)
            else:
                key = rng.randbytes(32)
            keys.append(key)
            changes[key] = _head(rng).encode()
        root = reference.update(changes)
        hashed_root = hashed.update({map_key(k): hash_map_leaf(k, v) for k, v in changes.items()})
        assert hashed_root == root, round_
        assert hashed.size == reference.size == len(set(keys))


def test_a_single_entry_is_its_leaf_and_a_changed_entry_changes_the_root():
    rng = random.Random(3)
    key, value = rng.randbytes(32), _head(rng).encode()
    hashed = HashedMap()
    assert hashed.update({map_key(key): hash_map_leaf(key, value)}) == map_root({key: value})
    other = _head(rng).encode()
    assert hashed.update({map_key(key): hash_map_leaf(key, other)}) == map_root({key: other})
    assert hashed.size == 1


def test_keys_are_256_bit_and_entry_hashes_32_bytes():
    with pytest.raises(ValueError, match="256-bit"):
        HashedMap().update({1 << 256: bytes(32)})
    with pytest.raises(ValueError, match="32 bytes"):
        HashedMap().update({1: bytes(31)})


def test_buckets_shared_out_among_processes_hash_as_in_one():
    rng = random.Random(5)
    buckets = [
        {(b << 240) | rng.getrandbits(240): rng.randbytes(32) for _ in range(rng.randrange(1, 4))}
        for b in range(audit_pool._SHARED_BUCKETS + 10)
    ]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        shared = audit_pool._pool_builder(pool, 2)(16, buckets)
    assert shared == bucket_hashes(16, buckets)
    assert len(set(shared)) == len(buckets)
