"""The card map: a sparse Merkle tree from card commitments to card heads, as pure functions.

``docs/card-map.md`` states the rules; this module is their reference. Nothing here does
I/O: stored maps (:mod:`anchoring.cardmap_store`) hand :func:`prove` the nodes along a
key's path and write the nodes that :func:`build_subtree` emits.

    >>> from anchoring import cardmap
    >>> a, b = bytes(32), bytes([0x80]) + bytes(31)
    >>> head = cardmap.CardHead(seq=2, leaf_index=7, leaf_hash=bytes(range(32)))
    >>> entries = {a: head.encode(), b: cardmap.CardHead(0, 3, bytes(32)).encode()}
    >>> root = cardmap.map_root(entries)
    >>> proof = cardmap.prove_in_memory(entries, a)
    >>> cardmap.verify_map_proof(a, head.encode(), proof, root)   # None: it holds
    >>> absent = bytes([0x40]) + bytes(31)
    >>> cardmap.verify_map_proof(absent, None, cardmap.prove_in_memory(entries, absent), root)

Hash layout: ``leaf = SHA-256(0x02 || key || value)``, ``node = SHA-256(0x03 || left ||
right)``, an empty subtree (and the empty map) is 32 zero bytes. A subtree holding one entry
*is* that entry's leaf, wherever it stands, so paths are only as deep as keys need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anchoring.errors import MapProofShapeError, MapRootMismatchError

HASH_SIZE = 32
KEY_SIZE = 32
KEY_BITS = 8 * KEY_SIZE
VALUE_SIZE = 48
MAP_LEAF_PREFIX = b"\x02"
MAP_NODE_PREFIX = b"\x03"
EMPTY_HASH = bytes(HASH_SIZE)
EMPTY_MAP_ROOT = EMPTY_HASH
CARD_MAP_TYPE = "CARD_MAP"
"""The ``type`` of the log leaf that commits a map root."""

_sha256 = hashlib.sha256


# --- keys, values and hashes ---------------------------------------------------------------


def key_bit(key: bytes, i: int) -> int:
    """Bit ``i`` of a key's path: bit 0 is the most significant bit of byte 0; 0 goes left."""
    return (key[i >> 3] >> (7 - (i & 7))) & 1


def key_prefix(key: bytes, depth: int) -> bytes:
    """The key with every bit from ``depth`` on cleared: names the subtree at that depth."""
    if depth >= KEY_BITS:
        return bytes(key)
    drop = KEY_BITS - depth
    return ((int.from_bytes(key, "big") >> drop) << drop).to_bytes(KEY_SIZE, "big")


def common_prefix_bits(a: bytes, b: bytes) -> int:
    """How many leading path bits two keys share (256 when equal)."""
    x = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    return KEY_BITS - x.bit_length()


@dataclass(frozen=True)
class CardHead:
    """A card's latest event as of a map version: its ``seq``, ``leaf_index`` and leaf hash.

    ``leaf_hash`` is the RFC 9162 leaf hash of the event, ``SHA-256(0x00 || leaf input)``.
    """

    seq: int
    leaf_index: int
    leaf_hash: bytes

    def encode(self) -> bytes:
        """The map value: ``seq`` (8 bytes, big-endian) || ``leaf_index`` (8) || leaf hash (32)."""
        if not 0 <= self.seq < 1 << 64 or not 0 <= self.leaf_index < 1 << 64:
            raise MapProofShapeError("seq and leaf_index must fit in 64 unsigned bits")
        _check(self.leaf_hash, HASH_SIZE, "leaf hash")
        return self.seq.to_bytes(8, "big") + self.leaf_index.to_bytes(8, "big") + self.leaf_hash

    @classmethod
    def decode(cls, value: bytes) -> CardHead:
        """The head a 48-byte map value encodes."""
        _check(value, VALUE_SIZE, "map value")
        return cls(
            int.from_bytes(value[:8], "big"), int.from_bytes(value[8:16], "big"), bytes(value[16:])
        )


def _check(value: object, size: int, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != size:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise MapProofShapeError(f"{what} must be {size} bytes, got {got}")


def hash_map_leaf(key: bytes, value: bytes) -> bytes:
    """The hash of a map entry: ``SHA-256(0x02 || key || value)``."""
    _check(key, KEY_SIZE, "map key")
    _check(value, VALUE_SIZE, "map value")
    return _sha256(MAP_LEAF_PREFIX + key + value).digest()


def hash_map_node(left: bytes, right: bytes) -> bytes:
    """The hash of a subtree of two or more entries: ``SHA-256(0x03 || left || right)``."""
    return _sha256(MAP_NODE_PREFIX + left + right).digest()


# --- nodes, subtrees and roots ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MapLeaf:
    """A subtree holding exactly one entry."""

    key: bytes
    value: bytes

    @property
    def hash(self) -> bytes:
        """The entry's leaf hash, which is the subtree's hash."""
        return hash_map_leaf(self.key, self.value)


@dataclass(frozen=True, slots=True)
class MapBranch:
    """A subtree holding two or more entries: its children's hashes (EMPTY_HASH if empty)."""

    left: bytes
    right: bytes

    @property
    def hash(self) -> bytes:
        """``SHA-256(0x03 || left || right)``."""
        return hash_map_node(self.left, self.right)


MapNode = MapLeaf | MapBranch
Emit = Callable[[int, bytes, MapNode, bytes], None]
"""Receives ``(depth, key prefix, node, node hash)`` for every non-empty subtree built."""


def build_subtree(
    entries: Sequence[tuple[bytes, bytes]], depth: int, emit: Emit | None = None
) -> bytes:
    """The hash of the subtree at ``depth`` holding ``entries`` (sorted by key, distinct).

    Every key must share the subtree's first ``depth`` bits. ``emit``, if given, receives
    each non-empty subtree built, children before parents.
    """
    if not entries:
        return EMPTY_HASH
    if len(entries) == 1:
        key, value = entries[0]
        leaf = MapLeaf(bytes(key), bytes(value))
        digest = leaf.hash
        if emit is not None:
            emit(depth, key_prefix(key, depth), leaf, digest)
        return digest
    if depth >= KEY_BITS:
        raise MapProofShapeError("two entries share one key")
    split = split_entries(entries, depth)
    left = build_subtree(entries[:split], depth + 1, emit)
    right = build_subtree(entries[split:], depth + 1, emit)
    branch = MapBranch(left, right)
    digest = branch.hash
    if emit is not None:
        emit(depth, key_prefix(entries[0][0], depth), branch, digest)
    return digest


def split_entries(entries: Sequence[tuple[bytes, Any]], depth: int) -> int:
    """The position of the first entry whose bit ``depth`` is 1 (entries sorted by key)."""
    lo, hi = 0, len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if key_bit(entries[mid][0], depth):
            hi = mid
        else:
            lo = mid + 1
    return lo


Position = tuple[int, bytes]
"""A subtree of the map: ``(depth, key prefix)``."""
Lookup = Callable[[Sequence[Position]], Mapping[Position, MapNode]]
"""The current nodes at some positions (positions absent from the answer are empty)."""


def apply_changes(
    root: bytes, items: Sequence[tuple[bytes, bytes]], lookup: Lookup, emit: Emit
) -> tuple[bytes, int]:
    """Set ``items`` (key-sorted ``(key, value)``) in the map whose root is ``root``.

    Reads the current branches on the items' paths through ``lookup``, one depth at a
    time, and passes every subtree whose hash changes to ``emit``. Returns the new root and
    how many of the keys were not in the map before. Costs O(k log n) for k items.
    """
    if not items:
        return root, 0
    known = _branches_on_paths(items, lookup)
    added = 0

    def build(depth: int, entries: Sequence[tuple[bytes, bytes]]) -> bytes:
        nonlocal added
        prefix = key_prefix(entries[0][0], depth)
        node = known.get((depth, prefix))
        if isinstance(node, MapBranch):
            split = split_entries(entries, depth)
            left = build(depth + 1, entries[:split]) if split else node.left
            right = build(depth + 1, entries[split:]) if split < len(entries) else node.right
            branch = MapBranch(left, right)
            digest = branch.hash
            emit(depth, prefix, branch, digest)
            return digest
        merged = list(entries)
        added += len(entries)
        if isinstance(node, MapLeaf):
            if any(key == node.key for key, _ in entries):
                added -= 1
            else:
                merged = sorted([*entries, (node.key, node.value)])
        return build_subtree(merged, depth, emit)

    return build(0, items), added


def _branches_on_paths(
    items: Sequence[tuple[bytes, bytes]], lookup: Lookup
) -> dict[Position, MapNode]:
    """The current subtrees the items' paths cross, down to the first non-branch on each."""
    known: dict[Position, MapNode] = {}
    level: dict[Position, Sequence[tuple[bytes, bytes]]] = {(0, bytes(KEY_SIZE)): items}
    while level:
        found = lookup(list(level))
        known.update(found)
        below: dict[Position, Sequence[tuple[bytes, bytes]]] = {}
        for (depth, prefix), entries in level.items():
            if not isinstance(found.get((depth, prefix)), MapBranch):
                continue
            split = split_entries(entries, depth)
            for side in (entries[:split], entries[split:]):
                if side:
                    below[(depth + 1, key_prefix(side[0][0], depth + 1))] = side
        level = below
    return known


class MemoryCardMap:
    """A card map held in memory and updated in place: for the audit, which replays the log.

    Entries are kept in buckets by their first ``bucket_depth`` key bits; a bucket's subtree
    is rebuilt from its entries when one of them changes, and only the subtrees above the
    buckets are kept, with their entry counts (a subtree of one entry is that entry's leaf).
    At a million cards that is about 15 entries a bucket and 2^17 kept subtrees: an update
    of k cards costs about 30·k hashes, and memory is little more than the entries.

        >>> m = MemoryCardMap()
        >>> m.update({bytes(32): bytes(48)}) == map_root({bytes(32): bytes(48)})
        True
    """

    def __init__(self, bucket_depth: int = 16) -> None:
        if not 0 <= bucket_depth <= 32:
            raise ValueError(f"bucket depth {bucket_depth} is not in [0, 32]")
        self.root = EMPTY_MAP_ROOT
        self.size = 0
        self._depth = bucket_depth
        self._buckets: dict[int, dict[bytes, bytes]] = {}
        # (depth, index) → (hash, entries below) for the non-empty subtrees above the buckets.
        self._above: dict[tuple[int, int], tuple[bytes, int]] = {}

    def update(self, changes: Mapping[bytes, bytes]) -> bytes:
        """Set each key's value; returns the new root."""
        depth = self._depth
        touched: set[int] = set()
        for key, value in sorted_entries(changes):
            bucket = int.from_bytes(key[:4], "big") >> (32 - depth)
            entries = self._buckets.setdefault(bucket, {})
            self.size += key not in entries
            entries[key] = value
            touched.add(bucket)
        for bucket in touched:
            entries = self._buckets[bucket]
            self._above[(depth, bucket)] = (
                build_subtree(sorted(entries.items()), depth),
                len(entries),
            )
        for level in range(depth, 0, -1):
            touched = {index >> 1 for index in touched}
            for parent in touched:
                left = self._above.get((level, 2 * parent), (EMPTY_HASH, 0))
                right = self._above.get((level, 2 * parent + 1), (EMPTY_HASH, 0))
                count = left[1] + right[1]
                # One entry below: the subtree is that entry's leaf, wherever it stands.
                digest = (
                    (left[0] if left[1] else right[0])
                    if count == 1
                    else hash_map_node(left[0], right[0])
                )
                self._above[(level - 1, parent)] = (digest, count)
        if (0, 0) in self._above:
            self.root = self._above[(0, 0)][0]
        return self.root

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """The map's entries, key-sorted (buckets are key ranges, so bucket by bucket)."""
        for bucket in sorted(self._buckets):
            yield from sorted(self._buckets[bucket].items())


ENTRY_SIZE = KEY_SIZE + VALUE_SIZE
"""A packed entry: ``key || value``."""


def pack_entries(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Entries as one string of ``key || value`` records, in the order given."""
    return b"".join(key + value for key, value in items)


def unpack_entries(data: bytes) -> dict[bytes, bytes]:
    """The entries :func:`pack_entries` packed; MapProofShapeError for a torn record or a key
    packed twice (a damaged file, which must not pass for a map with fewer cards)."""
    if len(data) % ENTRY_SIZE:
        raise MapProofShapeError(f"{len(data)} bytes is not a whole number of map entries")
    view = memoryview(data)
    entries = {
        bytes(view[i : i + KEY_SIZE]): bytes(view[i + KEY_SIZE : i + ENTRY_SIZE])
        for i in range(0, len(data), ENTRY_SIZE)
    }
    if len(entries) * ENTRY_SIZE != len(data):
        raise MapProofShapeError("a key is packed twice")
    return entries


def sorted_entries(entries: Mapping[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """A map's entries as a key-sorted list, each key and value checked for its size."""
    for key, value in entries.items():
        _check(key, KEY_SIZE, "map key")
        _check(value, VALUE_SIZE, "map value")
    return sorted((bytes(k), bytes(v)) for k, v in entries.items())


def map_root(entries: Mapping[bytes, bytes]) -> bytes:
    """The root of the map holding ``entries`` (key → 48-byte value); EMPTY_MAP_ROOT if none."""
    return build_subtree(sorted_entries(entries), 0)


# --- proofs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapProof:
    """The siblings along a key's path, top first (None: empty), and what ends the path.

    ``other_leaf`` is set only in a proof of absence that ends at another key's entry.
    """

    siblings: tuple[bytes | None, ...]
    other_leaf: MapLeaf | None = None

    def to_json(self) -> dict[str, object]:
        """``{"bitmap", "siblings", "other_leaf"}`` as docs/card-map.md encodes them."""
        bitmap = 0
        for depth, sibling in enumerate(self.siblings):
            if sibling is not None:
                bitmap |= 1 << (KEY_BITS - 1 - depth)
        other = self.other_leaf
        return {
            "bitmap": bitmap.to_bytes(KEY_SIZE, "big").hex(),
            "siblings": [s.hex() for s in self.siblings if s is not None],
            "other_leaf": None
            if other is None
            else {"key": other.key.hex(), "value": other.value.hex()},
        }

    @classmethod
    def from_json(cls, raw: Any) -> MapProof:
        """Parse the JSON form; raise :class:`MapProofShapeError` unless it is well formed."""
        if not isinstance(raw, dict):
            raise MapProofShapeError("a map proof must be an object")
        bitmap = _hex(raw.get("bitmap"), KEY_SIZE, "bitmap")
        hashes = raw.get("siblings")
        if not isinstance(hashes, list):
            raise MapProofShapeError("siblings must be an array")
        siblings = [_hex(h, HASH_SIZE, f"siblings[{i}]") for i, h in enumerate(hashes)]
        depth = KEY_BITS - next(
            (i for i in range(KEY_BITS) if key_bit(bitmap, KEY_BITS - 1 - i)), KEY_BITS
        )
        set_bits = sum(key_bit(bitmap, i) for i in range(depth))
        if set_bits != len(siblings):
            raise MapProofShapeError(
                f"wrong number of siblings {len(siblings)}, the bitmap wants {set_bits}"
            )
        path: list[bytes | None] = []
        given = iter(siblings)
        for i in range(depth):
            path.append(next(given) if key_bit(bitmap, i) else None)
        other = raw.get("other_leaf")
        leaf = None
        if other is not None:
            if not isinstance(other, dict):
                raise MapProofShapeError("other_leaf must be an object or null")
            leaf = MapLeaf(
                _hex(other.get("key"), KEY_SIZE, "other_leaf.key"),
                _hex(other.get("value"), VALUE_SIZE, "other_leaf.value"),
            )
        return cls(tuple(path), leaf)


def _hex(value: object, size: int, what: str) -> bytes:
    if (
        not isinstance(value, str)
        or len(value) != 2 * size
        or value.lower() != value
        or any(c not in "0123456789abcdef" for c in value)
    ):
        raise MapProofShapeError(f"{what} must be {2 * size} lowercase hex digits")
    return bytes.fromhex(value)


def root_from_map_proof(key: bytes, value: bytes | None, proof: MapProof) -> bytes:
    """The map root that ``proof`` leads to for ``key`` holding ``value`` (None: absent).

    Raises :class:`MapProofShapeError` for a proof that no map can have: more than 256
    siblings, a lowest sibling that is empty, an all-zero sibling, an ``other_leaf`` in a
    proof of presence, or an ``other_leaf`` that is the key itself or off its path.
    """
    _check(key, KEY_SIZE, "map key")
    depth = len(proof.siblings)
    if depth > KEY_BITS:
        raise MapProofShapeError(f"wrong proof depth {depth}, want at most {KEY_BITS}")
    if depth and proof.siblings[-1] is None:
        raise MapProofShapeError("the lowest sibling is empty: that subtree would be its leaf")
    for i, sibling in enumerate(proof.siblings):
        if sibling is not None:
            _check(sibling, HASH_SIZE, f"sibling at depth {i + 1}")
            if sibling == EMPTY_HASH:
                raise MapProofShapeError(f"sibling at depth {i + 1} is the empty hash")
    other = proof.other_leaf
    if value is not None:
        if other is not None:
            raise MapProofShapeError("a proof of presence ends at the key's own leaf")
        node = hash_map_leaf(key, value)
    elif other is None:
        node = EMPTY_HASH
    else:
        if other.key == key:
            raise MapProofShapeError("other_leaf is the key itself: the key is present")
        if common_prefix_bits(other.key, key) < depth:
            raise MapProofShapeError(f"other_leaf's key leaves the key's path above depth {depth}")
        node = other.hash
    for i in range(depth - 1, -1, -1):
        sibling = proof.siblings[i] or EMPTY_HASH
        node = hash_map_node(sibling, node) if key_bit(key, i) else hash_map_node(node, sibling)
    return node


def verify_map_proof(key: bytes, value: bytes | None, proof: MapProof, root: bytes) -> None:
    """Check that the map with ``root`` holds ``value`` at ``key`` (None: holds no entry).

    Returns None; raises :class:`MapProofShapeError` or :class:`MapRootMismatchError`.
    """
    _check(root, HASH_SIZE, "expected map root")
    calculated = root_from_map_proof(key, value, proof)
    if calculated != root:
        raise MapRootMismatchError(bytes(root), calculated)


NodeAt = Callable[[int], MapNode | None]
"""The node at a depth on one key's path (None where the subtree is empty)."""


def prove(key: bytes, node_at: NodeAt) -> tuple[MapProof, bytes | None]:
    """Walk ``key``'s path from the root and return its proof and its value (None: absent).

    ``node_at(depth)`` is asked only for depths the walk reaches, top first.
    """
    _check(key, KEY_SIZE, "map key")
    siblings: list[bytes | None] = []
    node = node_at(0)
    while isinstance(node, MapBranch):
        depth = len(siblings)
        on_path, sibling = (
            (node.right, node.left) if key_bit(key, depth) else (node.left, node.right)
        )
        siblings.append(None if sibling == EMPTY_HASH else sibling)
        node = None if on_path == EMPTY_HASH else node_at(depth + 1)
        if on_path != EMPTY_HASH and node is None:
            raise MapProofShapeError(f"the map lacks its node at depth {depth + 1}")
    if isinstance(node, MapLeaf) and node.key == key:
        return MapProof(tuple(siblings)), node.value
    return MapProof(tuple(siblings), node), None


def nodes_in_memory(entries: Mapping[bytes, bytes]) -> dict[tuple[int, bytes], MapNode]:
    """Every non-empty subtree of a map, keyed by ``(depth, key prefix)``."""
    nodes: dict[tuple[int, bytes], MapNode] = {}

    def keep(depth: int, prefix: bytes, node: MapNode, _digest: bytes) -> None:
        nodes[(depth, prefix)] = node

    build_subtree(sorted_entries(entries), 0, keep)
    return nodes


def prove_in_memory(entries: Mapping[bytes, bytes], key: bytes) -> MapProof:
    """The proof for ``key`` (present or absent) in a map held in memory: for tests."""
    nodes = nodes_in_memory(entries)
    proof, _ = prove(key, lambda depth: nodes.get((depth, key_prefix(key, depth))))
    return proof
