"""The monitor's state documents: the JSON state, its Merkle frontier, and the card-map
file bound to one tree of one deployment."""

from __future__ import annotations

import dataclasses

import pytest

from anchoring import merkle
from anchoring.cardmap import CardHead, pack_entries
from anchoring.monitor_state import (
    MAP_FORMAT,
    Frontier,
    MonitorError,
    MonitorState,
    SavedMap,
    decode_map_file,
    encode_map_file,
    map_file_ref,
)

CONTRACT = "0x" + "ab" * 20


@pytest.mark.parametrize("size", range(0, 40))
def test_frontier_root_is_the_rfc9162_root_of_every_size(size):
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(size)]
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert frontier.root() == merkle.root(leaves) and len(frontier.hashes) == size.bit_count()


def state_at(size: int) -> MonitorState:
    frontier = Frontier()
    for i in range(size):
        frontier.append(merkle.hash_leaf(bytes([i])))
    return MonitorState(CONTRACT, 31337, frontier, frontier.root(), last_block=7)


def test_a_state_whose_root_does_not_follow_from_its_frontier_is_refused():
    document = state_at(8).to_json() | {"root": "00" * 32}
    with pytest.raises(MonitorError, match="does not follow"):
        MonitorState.from_json(document)


def test_a_malformed_state_is_refused():
    with pytest.raises(MonitorError, match="malformed state"):
        MonitorState.from_json({"format": "cardtrail-monitor-state/2", "tree_size": 3})


def test_a_state_of_an_unknown_format_is_refused():
    with pytest.raises(MonitorError, match="want 'cardtrail-monitor-state/2'"):
        MonitorState.from_json(state_at(3).to_json() | {"format": "cardtrail-monitor-state/3"})


def test_a_state_of_format_1_loads_without_a_card_map():
    document = state_at(5).to_json() | {"format": "cardtrail-monitor-state/1"}
    del document["card_map"]
    state = MonitorState.from_json(document)
    assert state.tree_size == 5 and state.card_map is None


SAVED = SavedMap(
    map_root=bytes(range(32)),
    entries=pack_entries([(bytes(32), CardHead(0, 1, bytes(32)).encode())]),
    pending=pack_entries([(b"\x01" * 32, CardHead(2, 9, b"\x02" * 32).encode())]),
)


def saved_with(state: MonitorState, saved: SavedMap = SAVED) -> tuple[MonitorState, bytes]:
    data = encode_map_file(state, saved)
    state.card_map = map_file_ref("monitor.json", data)
    return state, data


def test_a_card_map_file_round_trips_and_is_named_after_its_digest():
    state, data = saved_with(state_at(9))
    assert data.startswith(MAP_FORMAT.encode() + b"\n")
    assert decode_map_file(data, state) == SAVED
    assert state.card_map.name == f"monitor.json.cardmap-{state.card_map.sha256.hex()[:16]}"
    assert MonitorState.from_json(state.to_json()).card_map == state.card_map


def test_a_card_map_file_of_another_tree_or_deployment_is_refused_even_with_its_digest():
    _, data = saved_with(state_at(9))
    for other in (state_at(10), dataclasses.replace(state_at(9), chain_id=1)):
        other.card_map = map_file_ref("monitor.json", data)
        with pytest.raises(MonitorError, match="is the map at tree size 9"):
            decode_map_file(data, other)


def test_a_truncated_card_map_file_is_refused():
    state, data = saved_with(state_at(9))
    state.card_map = map_file_ref("monitor.json", data[:-5])
    with pytest.raises(MonitorError, match="truncated"):
        decode_map_file(data[:-5], state)


def test_a_card_map_file_of_another_format_is_refused():
    state, data = saved_with(state_at(9))
    data = data.replace(b"cardmap/1", b"cardmap/9", 1)
    state.card_map = map_file_ref("monitor.json", data)
    with pytest.raises(MonitorError, match="want 'cardtrail-monitor-cardmap/1'"):
        decode_map_file(data, state)
