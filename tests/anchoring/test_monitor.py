"""The monitor's walk over anchored checkpoints, on in-memory leaves and logs."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from anchoring import merkle
from anchoring.cardmap import CardHead, map_root
from anchoring.cardmap_leaf import map_leaf_input
from anchoring.chain import AnchorEvent
from anchoring.monitor import CardMapReplay, Monitor, event_position_hook
from anchoring.monitor_state import MonitorError, MonitorState
from anchoring.types import Checkpoint

LEAVES = [json.dumps({"leaf_index": i, "type": "ISSUED"}).encode() for i in range(23)]
HASHES = [merkle.hash_leaf(leaf) for leaf in LEAVES]


def anchored(*sizes: int, roots: dict[int, bytes] | None = None) -> list[AnchorEvent]:
    roots = roots or {}
    return [
        AnchorEvent(
            Checkpoint(size, roots.get(size, merkle.root(HASHES[:size]))),
            index,
            f"0x{index:064x}",
            100 + index,
            f"0x{index:064x}",
        )
        for index, size in enumerate(sizes)
    ]


def monitor(served=LEAVES, state=None, page=4, proofs=None, root_at=None) -> Monitor:
    def pages(start: int, end: int):
        for low in range(start, min(end, len(served)), page):
            yield served[low : min(low + page, end)]

    def consistency(first: int, second: int):
        if proofs is not None:
            return proofs(first, second)
        return merkle.consistency_proof([merkle.hash_leaf(x) for x in served[:second]], first)

    return Monitor(
        state or MonitorState(contract="0x" + "ab" * 20, chain_id=31337),
        pages,
        consistency,
        root_at or (lambda size: merkle.root(HASHES[:size])),
    )


def test_honest_log_passes_every_checkpoint_and_moves_the_state():
    walk = monitor()
    assert walk.check(anchored(3, 8, 9, 23)) is None
    assert walk.state.tree_size == 23 and walk.state.root == merkle.root(HASHES)
    assert walk.state.checkpoints == 4 and walk.state.last_block == 103


def test_a_changed_leaf_gives_another_root_and_names_the_checkpoint():
    served = list(LEAVES)
    served[5] = json.dumps({"leaf_index": 5, "type": "VOIDED"}).encode()
    divergence = monitor(served).check(anchored(3, 8, 23))
    assert divergence is not None and divergence.tree_size == 8
    assert "leaf in [3, 8) was changed" in str(divergence) and "block 101" in str(divergence)


def test_leaves_withheld_by_the_server_are_a_divergence():
    divergence = monitor(LEAVES[:10]).check(anchored(8, 23))
    assert divergence is not None and "publishes 10 leaves" in str(divergence)


def test_a_log_whose_root_the_contract_does_not_store_is_a_divergence():
    divergence = monitor(root_at=lambda size: bytes(32)).check(anchored(8))
    assert divergence is not None and "rootAt(8)" in str(divergence)


def test_a_tree_size_that_does_not_grow_is_a_divergence():
    events = anchored(8, 9)
    shrinking = [events[1], AnchorEvent(Checkpoint(8, events[0].checkpoint.root), 2, "0x", 9, "0x")]
    divergence = monitor().check(shrinking)
    assert divergence is not None and "must only grow" in str(divergence)


def test_a_bad_consistency_proof_from_the_server_is_a_divergence():
    divergence = monitor(proofs=lambda first, second: [bytes(32)]).check(anchored(3, 8))
    assert divergence is not None and "consistency proof from size 3" in str(divergence)


def test_a_leaf_naming_another_position_is_a_divergence():
    served = list(LEAVES)
    served[2], served[3] = served[3], served[2]
    # The swap changes the root too; the position hook names the leaf first.
    divergence = monitor(served).check(anchored(8))
    assert divergence is not None and "leaf 2 says it is leaf 3" in str(divergence)


def test_event_position_hook_accepts_non_event_json_and_refuses_non_json():
    assert event_position_hook(4, b'{"type":"CARD_MAP","leaf_index":4}') is None
    assert event_position_hook(4, b"[1,2]") is None
    assert event_position_hook(4, b"\xff") == "leaf 4 is not JSON"


def test_a_resumed_monitor_fetches_only_the_new_leaves():
    first = monitor()
    assert first.check(anchored(8)) is None
    saved = MonitorState.from_json(json.loads(first.state.dumps()))
    asked: list[tuple[int, int]] = []
    resumed = monitor(state=saved)
    pages = resumed.leaf_pages
    resumed.leaf_pages = lambda start, end: (asked.append((start, end)), pages(start, end))[1]
    # The last block is read again: its checkpoint is recognised, not a divergence.
    assert resumed.check(anchored(8, 23)) is None
    assert asked == [(8, 23)] and resumed.state.root == merkle.root(HASHES)


# --- the card map: each CARD_MAP leaf holds the map of the events before it --------------


def _event(card: int, seq: int, index: int) -> bytes:
    return json.dumps(
        {"card": f"{card:064x}", "leaf_index": index, "seq": seq, "type": "ISSUED"}
    ).encode()


def _map_leaf_after(events: list[bytes], cards: int, changed: int, root=None) -> bytes:
    positions = list(range(len(events)))
    return _map_leaf_after_at(events, positions, len(events), cards, changed, root)


def _map_leaf_after_at(events, positions, index, cards, changed, root=None) -> bytes:
    heads: dict[bytes, bytes] = {}
    for position, leaf in zip(positions, events, strict=True):
        event = json.loads(leaf)
        heads[bytes.fromhex(event["card"])] = CardHead(
            event["seq"], position, merkle.hash_leaf(leaf)
        ).encode()
    true_root = map_root(heads)
    return map_leaf_input(index, root or true_root, cards, changed, datetime.now(UTC))


def test_card_map_replay_accepts_the_map_of_the_events_before_each_map_leaf():
    events = [_event(1, 0, 0), _event(2, 0, 1), _event(1, 1, 2)]
    replay = CardMapReplay()
    leaves = [*events, _map_leaf_after(events, cards=2, changed=2)]
    assert [replay(i, leaf) for i, leaf in enumerate(leaves)] == [None] * 4


def test_a_map_leaf_hiding_a_cards_latest_event_is_a_divergence():
    # The server commits a map in which card 1's head is still its first event (seq 0):
    # the REDEEMED-style event at leaf 2 is hidden from the map, though it is in the log.
    events = [_event(1, 0, 0), _event(2, 0, 1), _event(1, 1, 2)]
    forged = _map_leaf_after(events[:2], cards=2, changed=2)
    forged_root = json.loads(forged)["map_root"]
    doctored = _map_leaf_after(events, cards=2, changed=2, root=bytes.fromhex(forged_root))
    replay = CardMapReplay()
    for index, leaf in enumerate(events):
        assert replay(index, leaf) is None
    problem = replay(3, doctored)
    assert problem is not None and "map_root" in problem and "CARD_MAP leaf 3" in problem


def test_a_map_leaf_with_wrong_counts_is_a_divergence():
    events = [_event(1, 0, 0)]
    replay = CardMapReplay()
    assert replay(0, events[0]) is None
    problem = replay(1, _map_leaf_after(events, cards=5, changed=1))
    assert problem is not None and "cards is 5" in problem


def test_a_resumed_replay_checks_the_next_map_leaf_as_the_replay_it_was_saved_from():
    events = [_event(1, 0, 0), _event(2, 0, 1)]
    replay = CardMapReplay()
    for index, leaf in enumerate([*events, _map_leaf_after(events, cards=2, changed=2)]):
        assert replay(index, leaf) is None
    events += [_event(3, 0, 3), _event(1, 1, 4)]
    events.insert(2, b"{}")  # the map leaf's place: not an event of any card
    for index in (3, 4):
        assert replay(index, events[index]) is None
    # Saved with card 3 and card 1's new head pending, as at a checkpoint between map leaves.
    resumed = CardMapReplay.resumed(replay.saved())
    assert resumed.changes == replay.changes and resumed.map.root == replay.map.root
    heads = [events[i] for i in (0, 1, 3, 4)]
    closing = _map_leaf_after_at(heads, [0, 1, 3, 4], index=5, cards=3, changed=2)
    assert resumed(5, closing) is None and replay(5, closing) is None


def test_a_saved_replay_whose_entries_do_not_give_its_root_is_refused():
    replay = CardMapReplay()
    assert replay(0, _event(1, 0, 0)) is None
    assert replay(1, _map_leaf_after([_event(1, 0, 0)], cards=1, changed=1)) is None
    saved = replay.saved()
    with pytest.raises(MonitorError, match="entries give map root"):
        CardMapReplay.resumed(dataclasses.replace(saved, map_root=bytes(32)))
    with pytest.raises(MonitorError, match="not a whole number"):
        CardMapReplay.resumed(dataclasses.replace(saved, entries=saved.entries[:-1]))
