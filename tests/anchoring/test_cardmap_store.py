"""The stored, versioned card map against the in-memory reference, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime

import pytest
import rfc8785
import sqlalchemy as sa

from anchoring import cardmap, merkle
from anchoring.cardmap import CardHead
from anchoring.cardmap_leaf import card_heads, parse_map_leaf
from anchoring.cardmap_store import CardMapStore, append_card_map
from anchoring.db import read_transaction, write_transaction
from anchoring.errors import LogIntegrityError, TreeSizeError
from anchoring.log import MerkleLog
from anchoring.schema import card_map_nodes, metadata

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def map_engine(engine: sa.Engine) -> sa.Engine:
    """The test's engine with the anchoring tables."""
    metadata.create_all(engine)
    return engine


def _value(rng: random.Random) -> bytes:
    return CardHead(rng.randrange(50), rng.randrange(10**6), rng.randbytes(32)).encode()


def test_versions_match_the_reference_and_old_versions_stay_provable(map_engine):
    rng = random.Random(7)
    keys = [rng.randbytes(32) for _ in range(120)]
    current: dict[bytes, bytes] = {}
    history: list[tuple[int, dict[bytes, bytes]]] = []
    for version in (10, 20, 35, 36, 80):
        changes = {key: _value(rng) for key in rng.sample(keys, rng.randrange(1, 40))}
        with write_transaction(map_engine) as conn:
            record = CardMapStore(conn).update(version, changes)
        current = {**current, **changes}
        assert record.root == cardmap.map_root(current)
        assert (record.cards, record.changed) == (len(current), len(changes))
        history.append((version, dict(current)))
    with read_transaction(map_engine) as conn:
        store = CardMapStore(conn)
        for version, entries in history:
            root = store.version(version).root
            for key in keys[:30]:
                proof, value = store.prove(key, version)
                assert value == entries.get(key)
                assert proof == cardmap.prove_in_memory(entries, key)
                cardmap.verify_map_proof(key, value, proof, root)


def test_an_update_writes_only_the_changed_paths(map_engine):
    rng = random.Random(3)
    entries = {rng.randbytes(32): _value(rng) for _ in range(1000)}
    with write_transaction(map_engine) as conn:
        CardMapStore(conn).update(1, entries)
    changed = dict(rng.sample(sorted(entries.items()), 5))
    with write_transaction(map_engine) as conn:
        CardMapStore(conn).update(2, {k: _value(rng) for k in changed})
        written = conn.execute(
            sa.select(sa.func.count()).where(card_map_nodes.c.version == 2)
        ).scalar_one()
    # Five paths of about log2(1000) ≈ 10 subtrees each, sharing their top.
    assert 5 <= written <= 5 * 14


def test_proof_of_an_unknown_version_is_refused(map_engine):
    with (
        read_transaction(map_engine) as conn,
        pytest.raises(TreeSizeError, match="no card map of version 4"),
    ):
        CardMapStore(conn).prove(bytes(32), 4)


def test_an_update_must_come_after_the_newest_version(map_engine):
    with write_transaction(map_engine) as conn:
        store = CardMapStore(conn)
        store.update(5, {bytes(32): bytes(48)})
        with pytest.raises(TreeSizeError, match="map version 5 is not after 5"):
            store.update(5, {bytes(32): bytes(48)})


def _event(index: int, card: bytes, seq: int) -> bytes:
    return rfc8785.dumps({"leaf_index": index, "card": card.hex(), "seq": seq, "type": "X"})


def test_append_card_map_commits_each_card_latest_event(map_engine):
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    leaves = [_event(0, a, 0), _event(1, b, 0), _event(2, a, 1)]
    with write_transaction(map_engine) as conn:
        MerkleLog(conn).append(leaves)
        version = append_card_map(conn, NOW)
    assert version is not None and version.version == 3
    with read_transaction(map_engine) as conn:
        log = MerkleLog(conn)
        assert log.size() == 4
        leaf = parse_map_leaf(log.leaf_input(3))
        proof, value = CardMapStore(conn).prove(a, 3)
    assert leaf == {
        "type": "CARD_MAP",
        "leaf_index": 3,
        "tree_size": 3,
        "map_root": version.root.hex(),
        "cards": 2,
        "changed": 2,
        "recorded_at": "2026-12-02T06:00:00.000Z",
    }
    assert value == CardHead(1, 2, merkle.hash_leaf(leaves[2])).encode()
    cardmap.verify_map_proof(a, value, proof, version.root)


def test_append_card_map_is_not_repeated_on_a_log_ending_with_one(map_engine):
    a = hashlib.sha256(b"a").digest()
    with write_transaction(map_engine) as conn:
        MerkleLog(conn).append([_event(0, a, 0)])
        first = append_card_map(conn, NOW)
    with write_transaction(map_engine) as conn:
        again = append_card_map(conn, NOW)
        assert MerkleLog(conn).size() == 2
    assert again == first


def test_the_next_card_map_covers_only_the_cards_changed_since(map_engine):
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    with write_transaction(map_engine) as conn:
        MerkleLog(conn).append([_event(0, a, 0), _event(1, b, 0)])
        append_card_map(conn, NOW)
        MerkleLog(conn).append([_event(3, b, 1)])
        second = append_card_map(conn, NOW)
    assert second is not None and (second.version, second.cards, second.changed) == (4, 2, 1)
    with read_transaction(map_engine) as conn:
        leaves = list(MerkleLog(conn).iter_leaves(0, 4))
    expected = {k: h.encode() for k, h in card_heads(leaves).items()}
    assert second.root == cardmap.map_root(expected)
    assert json.loads(leaves[2][1])["type"] == "CARD_MAP"


def test_append_card_map_on_an_empty_log_appends_nothing(map_engine):
    with write_transaction(map_engine) as conn:
        assert append_card_map(conn, NOW) is None
        assert MerkleLog(conn).size() == 0


def test_a_leaf_that_is_not_json_stops_the_map(map_engine):
    with write_transaction(map_engine) as conn:
        MerkleLog(conn).append([b"not json"])
        with pytest.raises(LogIntegrityError, match="not JSON"):
            append_card_map(conn, NOW)
