"""The card map stored in the database: versioned nodes, proofs at any version.

Each ``CARD_MAP`` leaf is a map version (the tree size it covers). An update writes, at
the new version, only the subtrees whose hash changed: for k changed cards among n, about
k·log2(n) rows, found by reading the old branches on their paths one depth at a time. A
proof at version v reads, for each depth on the key's path, the newest row at or below v:
O(log n) rows in one query for the usual depths. Rows are never updated or deleted, so
proofs at the anchored version stay servable while newer versions are written.

:class:`CardMapStore` works on the caller's connection, in the caller's transaction;
:func:`append_card_map` is what the anchoring worker runs under the log head lock, after
:func:`prepare_card_map` computed most of the update without it.

    >>> from datetime import UTC, datetime
    >>> from anchoring.db import create_engine, write_transaction
    >>> from anchoring.schema import metadata
    >>> engine = create_engine("sqlite:///:memory:")
    >>> metadata.create_all(engine)
    >>> with write_transaction(engine) as conn:
    ...     store = CardMapStore(conn)
    ...     version = store.update(7, {bytes(32): bytes(48)})
    ...     proof, value = store.prove(bytes(32), 7)
    >>> (version.cards, value == bytes(48), proof.siblings)
    (1, True, ())
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from anchoring import cardmap
from anchoring.cardmap import (
    EMPTY_HASH,
    KEY_BITS,
    KEY_SIZE,
    MapBranch,
    MapLeaf,
    MapNode,
    MapProof,
    Position,
    key_prefix,
)
from anchoring.cardmap_leaf import card_heads, map_leaf_input
from anchoring.errors import LogIntegrityError, MapProofShapeError, TreeSizeError
from anchoring.log import MerkleLog
from anchoring.schema import card_map_versions

# Depths fetched per proof query: a map of a million cards is about 21 deep.
_PROOF_BATCH = 32
# Subtrees looked up per query during an update.
_UPDATE_BATCH = 200


@dataclass(frozen=True)
class MapVersion:
    """A stored map version: the tree size it covers, its root and its counts."""

    version: int
    root: bytes
    cards: int
    changed: int


@dataclass(frozen=True)
class MapUpdate:
    """A map version being built and not yet written: the stored version it starts from,
    the leaves it covers (up to ``upto``, exclusive), its root, how many cards it adds,
    the keys it changes and the subtrees whose hash changed."""

    previous: MapVersion | None
    upto: int
    root: bytes
    added: int
    keys: frozenset[bytes]
    nodes: Mapping[Position, MapNode]

    @classmethod
    def start(cls, previous: MapVersion | None) -> MapUpdate:
        """Nothing applied yet after ``previous`` (whose own leaf it skips)."""
        if previous is None:
            return cls(None, 0, EMPTY_HASH, 0, frozenset(), {})
        return cls(previous, previous.version + 1, previous.root, 0, frozenset(), {})


def _decode(body: bytes) -> MapNode:
    body = bytes(body)
    if len(body) == 2 * cardmap.HASH_SIZE:
        return MapBranch(body[:32], body[32:])
    if len(body) == KEY_SIZE + cardmap.VALUE_SIZE:
        return MapLeaf(body[:KEY_SIZE], body[KEY_SIZE:])
    raise LogIntegrityError(f"a card map node of {len(body)} bytes is neither branch nor leaf")


def _encode(node: MapNode) -> bytes:
    if isinstance(node, MapBranch):
        return node.left + node.right
    return node.key + node.value


@functools.lru_cache(maxsize=64)
def _latest_sql(count: int, mark: str) -> str:
    """``count`` seeks of the newest row at or below a version per ``(depth, path)``.

    Run as driver SQL with ``mark`` placeholders (three per seek: depth, path, version):
    SQLAlchemy's handling of a text statement's parameters was a third of an update.
    """
    return " UNION ALL ".join(
        f"SELECT * FROM (SELECT depth, path, version, body FROM card_map_nodes "
        f"WHERE depth = {mark} AND path = {mark} AND version <= {mark} "
        f"ORDER BY version DESC LIMIT 1) AS n{i}"
        for i in range(count)
    )


class CardMapStore:
    """The card map's versions and nodes on one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- versions ---------------------------------------------------------------------

    def latest(self) -> MapVersion | None:
        """The newest stored version, or None before the first ``CARD_MAP`` leaf."""
        row = self._conn.execute(
            sa.select(card_map_versions).order_by(card_map_versions.c.version.desc()).limit(1)
        ).first()
        return None if row is None else MapVersion(row[0], bytes(row[1]), row[2], row[3])

    def version(self, version: int) -> MapVersion | None:
        """The stored version ``version`` (a ``CARD_MAP`` leaf's index), or None."""
        row = self._conn.execute(
            sa.select(card_map_versions).where(card_map_versions.c.version == version)
        ).first()
        return None if row is None else MapVersion(row[0], bytes(row[1]), row[2], row[3])

    def versions(self) -> list[MapVersion]:
        """Every stored version, oldest first."""
        rows = self._conn.execute(
            sa.select(card_map_versions).order_by(card_map_versions.c.version)
        )
        return [MapVersion(r[0], bytes(r[1]), r[2], r[3]) for r in rows]

    # --- nodes ------------------------------------------------------------------------

    def _latest_nodes(self, positions: Sequence[Position], version: int) -> dict[Position, MapNode]:
        found: dict[Position, MapNode] = {}
        mark = "?" if self._conn.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(positions), _UPDATE_BATCH):
            chunk = positions[start : start + _UPDATE_BATCH]
            params = tuple(value for d, p in chunk for value in (d, p, version))
            rows = self._conn.exec_driver_sql(_latest_sql(len(chunk), mark), params)
            for depth, path, _, body in rows:
                found[(depth, bytes(path))] = _decode(body)
        return found

    def node_at(self, key: bytes, depth: int, version: int) -> MapNode | None:
        """The subtree at ``depth`` on ``key``'s path as of ``version`` (None: empty)."""
        position = (depth, key_prefix(key, depth))
        return self._latest_nodes([position], version).get(position)

    def prove(self, key: bytes, version: int) -> tuple[MapProof, bytes | None]:
        """The proof for ``key`` in the map at ``version``, and its value (None: absent)."""
        if self.version(version) is None:
            raise TreeSizeError(f"no card map of version {version} is stored")
        cache: dict[int, MapNode | None] = {}

        def node_at(depth: int) -> MapNode | None:
            if depth not in cache:
                depths = range(depth, min(depth + _PROOF_BATCH, KEY_BITS + 1))
                positions = [(d, key_prefix(key, d)) for d in depths]
                rows = self._latest_nodes(positions, version)
                cache.update((d, rows.get(p)) for d, p in zip(depths, positions, strict=True))
            return cache[depth]

        try:
            return cardmap.prove(key, node_at)
        except MapProofShapeError as exc:
            raise LogIntegrityError(f"card map version {version}: {exc}") from None

    # --- updates ----------------------------------------------------------------------

    def update(self, version: int, changes: Mapping[bytes, bytes]) -> MapVersion:
        """Write map ``version``: the newest version with ``changes`` (key → value) applied.

        ``version`` must be above every stored one. Returns the new version's record.
        """
        update = self.apply(MapUpdate.start(self.latest()), changes, version)
        return self.write(version, update)

    def apply(self, base: MapUpdate, changes: Mapping[bytes, bytes], upto: int) -> MapUpdate:
        """``base`` with ``changes`` (key → value) applied, now covering leaves up to
        ``upto``; nothing is written. Subtrees ``base`` changed are read from it, the
        others as stored (at or below ``upto``)."""
        nodes = dict(base.nodes)

        def lookup(positions: Sequence[Position]) -> dict[Position, MapNode]:
            found = {p: nodes[p] for p in positions if p in nodes}
            stored = [p for p in positions if p not in nodes]
            if stored:
                found.update(self._latest_nodes(stored, upto))
            return found

        def keep(depth: int, prefix: bytes, node: MapNode, _digest: bytes) -> None:
            nodes[(depth, prefix)] = node

        root, added = cardmap.apply_changes(
            base.root, cardmap.sorted_entries(changes), lookup, keep
        )
        keys = base.keys | frozenset(changes)
        return MapUpdate(base.previous, upto, root, base.added + added, keys, nodes)

    def write(self, version: int, update: MapUpdate) -> MapVersion:
        """Store ``update`` as map ``version``, which must be above every stored one."""
        previous = self.latest()
        if previous is not None and version <= previous.version:
            raise TreeSizeError(f"map version {version} is not after {previous.version}")
        if previous != update.previous:
            raise LogIntegrityError("the map update starts from a version that is not the latest")
        self._insert_nodes(
            [(depth, path, version, _encode(node)) for (depth, path), node in update.nodes.items()]
        )
        cards = (previous.cards if previous else 0) + update.added
        record = MapVersion(version, update.root, cards, len(update.keys))
        self._conn.execute(
            sa.insert(card_map_versions).values(
                version=version, root=record.root, cards=record.cards, changed=record.changed
            )
        )
        return record

    def _insert_nodes(self, rows: Sequence[tuple[int, bytes, int, bytes]]) -> None:
        # Driver executemany of plain tuples: a first map of a million cards writes two
        # million rows, and SQLAlchemy's per-row parameter handling was most of that.
        mark = "?" if self._conn.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO card_map_nodes (depth, path, version, body) "
            f"VALUES ({mark}, {mark}, {mark}, {mark})"
        )
        for start in range(0, len(rows), 50_000):
            self._conn.exec_driver_sql(sql, list(rows[start : start + 50_000]))


def prepare_card_map(conn: Connection) -> MapUpdate:
    """The next map version for the log as committed so far, computed and not written.

    Run in a read transaction before :func:`append_card_map`: the costly part of an update
    (a thousand changed cards among a million take about half a second) then happens
    while event writers go on, and the head lock is held only for the events that landed
    meanwhile.
    """
    log = MerkleLog(conn)
    store = CardMapStore(conn)
    return _extend(store, log, MapUpdate.start(store.latest()), log.size())


def _extend(store: CardMapStore, log: MerkleLog, update: MapUpdate, size: int) -> MapUpdate:
    """``update`` with the cards of the leaves from ``update.upto`` to ``size`` applied."""
    heads = card_heads(log.iter_leaves(update.upto, size))
    changes = {key: head.encode() for key, head in heads.items()}
    if not changes:
        return dataclasses.replace(update, upto=size)
    return store.apply(update, changes, size)


def append_card_map(
    conn: Connection, recorded_at: datetime, prepared: MapUpdate | None = None
) -> MapVersion | None:
    """Append the ``CARD_MAP`` leaf for the log as it stands; None for an empty log.

    Takes the log head lock, so no event lands between the map and its leaf; the map is
    updated with the cards whose events came after the previous ``CARD_MAP`` leaf, in the
    caller's transaction. ``prepared`` (:func:`prepare_card_map`) carries that update
    computed beforehand: only the leaves after it are applied here. It is ignored if
    another map was stored since. If the log already ends with a ``CARD_MAP`` leaf (a
    worker that appended it and stopped), that version is returned and nothing is
    appended. The anchored tree size is then ``version + 1``.
    """
    log = MerkleLog(conn)
    size = log.lock_head()
    if size == 0:
        return None
    store = CardMapStore(conn)
    previous = store.latest()
    if previous is not None:
        if previous.version >= size:
            raise LogIntegrityError(
                f"card map version {previous.version} is beyond the log's size {size}"
            )
        if previous.version == size - 1:
            return previous
    if prepared is not None and prepared.previous == previous and prepared.upto <= size:
        update = prepared
    else:
        update = MapUpdate.start(previous)
    version = store.write(size, _extend(store, log, update, size))
    leaf = map_leaf_input(size, version.root, version.cards, version.changed, recorded_at)
    if log.append([leaf]) != size:
        raise LogIntegrityError("the log grew under its head lock")
    return version
