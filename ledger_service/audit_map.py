"""The card map pass of ``cardtrail audit``: the map replayed from the events, and each
``CARD_MAP`` leaf (docs/card-map.md) checked against it.

The workers hash each event's map entry as they read it (:func:`entry_hash`); the main
process only keeps, per bucket of keys, each card's latest entry hash and rebuilds the
touched buckets' subtrees at each map leaf (:class:`HashedMap`). That is the rule of
:mod:`anchoring.cardmap` — the same root as its :class:`~anchoring.cardmap.MemoryCardMap`
— without building a value, a leaf object and a check per entry in the one process
that cannot share the work.
"""

from __future__ import annotations

import hashlib
import json
import struct
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy.engine import Connection

from anchoring.cardmap import EMPTY_HASH, EMPTY_MAP_ROOT, MAP_LEAF_PREFIX, MAP_NODE_PREFIX
from anchoring.cardmap_leaf import format_timestamp, is_map_leaf
from anchoring.cardmap_store import CardMapStore
from ledger_service.audit_findings import Divergence
from ledger_service.audit_rows import parse_stamp
from ledger_service.events import leaf_input

_sha256 = hashlib.sha256
_HEAD = struct.Struct(">QQ")
_KEY_BITS = 256


def map_key(commitment: bytes) -> int:
    """A card's map key (its 32-byte commitment) as the integer :class:`HashedMap` takes."""
    return int.from_bytes(commitment, "big")


def entry_hash(key: bytes, seq: int, leaf_index: int, leaf_hash: bytes) -> bytes:
    """The map leaf hash of a card's head: ``hash_map_leaf(key, CardHead(seq, leaf_index,
    leaf_hash).encode())`` (:mod:`anchoring.cardmap`)."""
    return _sha256(MAP_LEAF_PREFIX + key + _HEAD.pack(seq, leaf_index) + leaf_hash).digest()


Bucket = dict[int, bytes]
"""A bucket's entries: each key (as an integer) and its entry hash."""
Builder = Callable[[int, Sequence[Bucket]], list[bytes]]
"""Hashes the subtrees at a depth of buckets of entries (:func:`bucket_hashes`)."""


def bucket_hashes(depth: int, buckets: Sequence[Bucket]) -> list[bytes]:
    """The subtree hash at ``depth`` of each bucket (its keys sharing ``depth`` bits)."""
    hashed = []
    for entries in buckets:
        keys = sorted(entries)
        hashed.append(_subtree(keys, [entries[k] for k in keys], 0, len(keys), depth))
    return hashed


def _subtree(keys: list[int], hashes: list[bytes], lo: int, hi: int, depth: int) -> bytes:
    """The subtree at ``depth`` of the entries ``[lo, hi)`` (sorted keys, as integers)."""
    if hi - lo == 1:  # one entry: the subtree is its leaf, wherever it stands
        return hashes[lo]
    shift = _KEY_BITS - depth
    split = bisect_left(keys, (keys[lo] >> shift << shift) | (1 << (shift - 1)), lo, hi)
    left = _subtree(keys, hashes, lo, split, depth + 1) if split > lo else EMPTY_HASH
    right = _subtree(keys, hashes, split, hi, depth + 1) if split < hi else EMPTY_HASH
    return _sha256(MAP_NODE_PREFIX + left + right).digest()


class HashedMap:
    """A card map in memory from its entries' leaf hashes, updated in place.

    Keys are kept in buckets by their first ``bucket_depth`` bits; a touched bucket's
    subtree is rebuilt from its entries (by ``builder``, which may share the buckets out
    among processes), and only the subtrees above the buckets are kept with their entry
    counts (as :class:`anchoring.cardmap.MemoryCardMap` does).
    """

    def __init__(self, bucket_depth: int = 16, builder: Builder = bucket_hashes) -> None:
        if not 0 <= bucket_depth <= 32:
            raise ValueError(f"bucket depth {bucket_depth} is not in [0, 32]")
        self.root = EMPTY_MAP_ROOT
        self.size = 0
        self._depth = bucket_depth
        self._build = builder
        self._buckets: dict[int, Bucket] = {}
        self._above: dict[tuple[int, int], tuple[bytes, int]] = {}

    def update(self, changes: Mapping[int, bytes]) -> bytes:
        """Set each key's entry hash (keys as 256-bit integers, see :func:`map_key`);
        returns the new root."""
        if changes and (
            min(changes) < 0 or max(changes) >> _KEY_BITS or {*map(len, changes.values())} != {32}
        ):
            raise ValueError("map keys are 256-bit and entry hashes 32 bytes")
        # The main process of the audit does this for every event: group the changes by
        # bucket first, then merge each bucket's at once (a dict update, in C).
        shift, buckets = _KEY_BITS - self._depth, self._buckets
        touched: dict[int, Bucket] = {}
        for number, digest in changes.items():
            part = touched.get(number >> shift)
            if part is None:
                touched[number >> shift] = {number: digest}
            else:
                part[number] = digest
        for bucket, part in touched.items():
            entries = buckets.get(bucket)
            if entries is None:
                buckets[bucket] = part
                self.size += len(part)
            else:
                before = len(entries)
                entries.update(part)
                self.size += len(entries) - before
        order = sorted(touched)
        hashed = self._build(self._depth, [buckets[bucket] for bucket in order])
        for bucket, digest in zip(order, hashed, strict=True):
            self._above[(self._depth, bucket)] = (digest, len(buckets[bucket]))
        self._hash_above(set(touched))
        return self.root

    def _hash_above(self, touched: set[int]) -> None:
        above = self._above
        for level in range(self._depth, 0, -1):
            touched = {index >> 1 for index in touched}
            for parent in touched:
                left = above.get((level, 2 * parent), (EMPTY_HASH, 0))
                right = above.get((level, 2 * parent + 1), (EMPTY_HASH, 0))
                count = left[1] + right[1]
                # One entry below: the subtree is that entry's leaf, wherever it stands.
                digest = (
                    (left[0] if left[1] else right[0])
                    if count == 1
                    else _sha256(MAP_NODE_PREFIX + left[0] + right[0]).digest()
                )
                above[(level - 1, parent)] = (digest, count)
        if (0, 0) in above:
            self.root = above[(0, 0)][0]


def is_map_leaf_input(data: bytes) -> bool:
    """True when the leaf input is a CARD_MAP leaf (no events row belongs to it)."""
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and is_map_leaf(value)


class MapAudit:
    """Recomputes the card map leaf by leaf and checks each ``CARD_MAP`` leaf against it."""

    def __init__(self, conn: Connection, builder: Builder = bucket_hashes) -> None:
        self.store = CardMapStore(conn)
        self.map = HashedMap(builder=builder)
        self.changes: dict[int, bytes] = {}

    def map_leaf(self, index: int, data: bytes) -> Divergence | None:
        """Check one CARD_MAP leaf against the map of every event before it."""
        where = f"leaf {index}"
        leaf = json.loads(data)
        if leaf_input(leaf) != data:
            return Divergence("card map", where, "leaf input is not canonical JSON")
        changed = len(self.changes)
        root = self.map.update(self.changes)
        self.changes = {}
        expected = {
            "type": "CARD_MAP",
            "leaf_index": index,
            "tree_size": index,
            "map_root": root.hex(),
            "cards": self.map.size,
            "changed": changed,
        }
        for member, value in expected.items():
            if leaf.get(member) != value:
                return Divergence(
                    "card map", where, f"{member} is {leaf.get(member)!r}, recomputed {value!r}"
                )
        stamp = parse_stamp(leaf.get("recorded_at"))
        if set(leaf) != {*expected, "recorded_at"} or stamp is None:
            return Divergence("card map", where, "members are not those of a CARD_MAP leaf")
        if format_timestamp(stamp) != leaf["recorded_at"]:
            return Divergence("card map", where, "recorded_at is not a millisecond UTC stamp")
        stored = self.store.version(index)
        if stored is None or stored.root != root:
            return Divergence(
                "card map", where, "the stored card map of this version has another root"
            )
        return None
