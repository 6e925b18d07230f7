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
from anchoring.cardmap_store import CardMapStore, append_card_map, prepare_card_map
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


def _cards(count: int, tag: bytes) -> list[bytes]:
    return [hashlib.sha256(tag + bytes([k])).digest() for k in range(count)]


def _append_events(engine: sa.Engine, events: list[tuple[bytes, int]]) -> None:
    with write_transaction(engine) as conn:
        log = MerkleLog(conn)
        size = log.lock_head()
        log.append([_event(size + k, card, seq) for k, (card, seq) in enumerate(events)])


def _map_of_log(engine: sa.Engine, version: int) -> tuple[bytes, int]:
    """The reference: every card's latest event up to ``version``, as a map root."""
    with read_transaction(engine) as conn:
        log = MerkleLog(conn)
        heads = card_heads(log.iter_leaves(0, version))
    return cardmap.map_root({k: h.encode() for k, h in heads.items()}), len(heads)


def test_a_prepared_map_finished_under_the_lock_covers_events_that_landed_meanwhile(
    map_engine,
):
    old, new = _cards(20, b"old"), _cards(5, b"new")
    _append_events(map_engine, [(card, 0) for card in old])
    with write_transaction(map_engine) as conn:
        first = append_card_map(conn, NOW)
    _append_events(map_engine, [(card, 1) for card in old[:10]])
    with read_transaction(map_engine) as conn:
        prepared = prepare_card_map(conn)
    # Writers go on while the worker prepares: a card of the prepared part moves again,
    # and new cards appear.
    _append_events(map_engine, [(old[0], 2), *((card, 0) for card in new)])

    with write_transaction(map_engine) as conn:
        version = append_card_map(conn, NOW, prepared)

    assert first is not None and version is not None
    assert prepared.upto == first.version + 11 < version.version
    assert (version.root, version.cards) == _map_of_log(map_engine, version.version)
    assert version.changed == 15  # ten old cards (one of them twice) and five new
    with read_transaction(map_engine) as conn:
        proof, value = CardMapStore(conn).prove(old[0], version.version)
    cardmap.verify_map_proof(old[0], value, proof, version.root)
    assert value is not None and CardHead.decode(value).seq == 2


def test_a_prepared_map_is_ignored_once_another_map_was_stored(map_engine):
    cards = _cards(8, b"c")
    _append_events(map_engine, [(card, 0) for card in cards])
    with read_transaction(map_engine) as conn:
        stale = prepare_card_map(conn)
    with write_transaction(map_engine) as conn:
        append_card_map(conn, NOW)  # another worker anchored first
    _append_events(map_engine, [(cards[0], 1)])

    with write_transaction(map_engine) as conn:
        version = append_card_map(conn, NOW, stale)

    assert version is not None and version.changed == 1
    assert (version.root, version.cards) == _map_of_log(map_engine, version.version)


def test_the_first_map_can_be_prepared_over_a_log_that_has_none(map_engine):
    cards = _cards(30, b"first")
    _append_events(map_engine, [(card, 0) for card in cards])
    with read_transaction(map_engine) as conn:
        prepared = prepare_card_map(conn)
    with write_transaction(map_engine) as conn:
        version = append_card_map(conn, NOW, prepared)
    assert version is not None and version.version == 30 and version.cards == 30
    assert (version.root, version.cards) == _map_of_log(map_engine, 30)
