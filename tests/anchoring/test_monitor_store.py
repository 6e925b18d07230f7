"""The monitor's state files: one pair of a JSON state and the card-map file it names,
saved so that a crash leaves the old pair or the new, and refused when they do not match."""

from __future__ import annotations

import json
import shutil

import pytest
from monitorkit import CHAIN_ID, CONTRACT, AnchoringChain, ServedLog

from anchoring import merkle, monitor_store
from anchoring.monitor_cli import follow
from anchoring.monitor_state import MonitorError
from anchoring.monitor_store import load_state


def checked(tmp_path, *batches: tuple[int, ...]):
    """A log of ``batches`` (each closed by a map leaf and anchored), checked with a state."""
    log = ServedLog()
    chain = AnchoringChain(log)
    for cards in batches:
        log.events(*cards)
        log.close_map()
        chain.anchor()
    path = tmp_path / "monitor.json"
    state, divergence = follow(chain, log, CONTRACT, path, 0, progress=False)
    assert divergence is None
    return log, chain, path, state


def map_files(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_the_state_and_its_card_map_round_trip(tmp_path):
    _, _, path, state = checked(tmp_path, (1, 2, 3), (1, 4))
    loaded = load_state(path, "0x" + "AB" * 20, CHAIN_ID, from_block=0)
    assert (loaded.state.tree_size, loaded.state.root, loaded.state.last_block) == (
        state.tree_size,
        state.root,
        2,
    )
    assert loaded.replay is not None and loaded.replay.map.size == 4
    assert map_files(path) == [state.card_map.name]


def test_a_state_file_belongs_to_one_deployment(tmp_path):
    _, _, path, _ = checked(tmp_path, (1,))
    with pytest.raises(MonitorError, match="follows contract"):
        load_state(path, "0x" + "cd" * 20, CHAIN_ID, from_block=0)
    with pytest.raises(MonitorError, match=f"on chain {CHAIN_ID}"):
        load_state(path, CONTRACT, 1, from_block=0)


def test_without_a_state_file_the_monitor_starts_at_the_given_block(tmp_path):
    fresh = load_state(tmp_path / "none.json", CONTRACT, 5, from_block=42)
    assert (fresh.state.tree_size, fresh.state.last_block) == (0, 42)
    assert fresh.state.root == merkle.root([]) and fresh.replay is None


def test_a_state_naming_the_card_map_of_another_tree_is_refused(tmp_path):
    log, chain, path, _ = checked(tmp_path, (1, 2))
    earlier = json.loads(path.read_text())
    shutil.copy(path.with_name(earlier["card_map"]["file"]), tmp_path / "kept")
    log.events(3)
    log.close_map()
    chain.anchor()
    follow(chain, log, CONTRACT, path, 0, progress=False)
    later = json.loads(path.read_text())
    shutil.copy(tmp_path / "kept", path.with_name(earlier["card_map"]["file"]))
    # The state at size 5 now names (with the right digest) the map saved at size 3.
    path.write_text(json.dumps(later | {"card_map": earlier["card_map"]}))
    with pytest.raises(MonitorError, match="is the map at tree size 3 .* stands at tree size 5"):
        load_state(path, CONTRACT, CHAIN_ID, from_block=0)


def test_a_changed_card_map_file_is_refused(tmp_path):
    _, _, path, state = checked(tmp_path, (1, 2))
    map_path = path.with_name(state.card_map.name)
    data = bytearray(map_path.read_bytes())
    data[-1] ^= 1
    map_path.write_bytes(bytes(data))
    with pytest.raises(MonitorError, match="SHA-256 differs"):
        load_state(path, CONTRACT, CHAIN_ID, from_block=0)


def test_a_missing_card_map_file_is_refused_with_the_way_out(tmp_path):
    _, _, path, state = checked(tmp_path, (1, 2))
    path.with_name(state.card_map.name).unlink()
    with pytest.raises(MonitorError, match="cannot be read .* remove the state file"):
        load_state(path, CONTRACT, CHAIN_ID, from_block=0)


def test_a_card_map_file_named_outside_the_state_folder_is_refused(tmp_path):
    _, _, path, _ = checked(tmp_path, (1,))
    document = json.loads(path.read_text())
    document["card_map"]["file"] = "../elsewhere"
    path.write_text(json.dumps(document))
    with pytest.raises(MonitorError, match="not a plain file name"):
        load_state(path, CONTRACT, CHAIN_ID, from_block=0)


def _crash_on_replacing(monkeypatch, name_ends: str) -> None:
    real = monitor_store.os.replace

    def replace(source, target):
        if str(target).endswith(name_ends):
            raise KeyboardInterrupt("the power went out")
        real(source, target)

    monkeypatch.setattr(monitor_store.os, "replace", replace)


def test_a_save_interrupted_before_the_state_file_leaves_the_old_pair(tmp_path, monkeypatch):
    log, chain, path, _ = checked(tmp_path, (1, 2))
    before = path.read_text()
    log.events(3)
    log.close_map()
    chain.anchor()
    _crash_on_replacing(monkeypatch, "monitor.json")
    with pytest.raises(KeyboardInterrupt):
        follow(chain, log, CONTRACT, path, 0, progress=False)
    monkeypatch.undo()
    assert path.read_text() == before
    assert load_state(path, CONTRACT, CHAIN_ID, from_block=0).state.tree_size == 3
    log.leaves_served = 0
    state, divergence = follow(chain, log, CONTRACT, path, 0, progress=False)
    assert divergence is None and state.tree_size == 5 and log.leaves_served == 2
    # The card-map file of the interrupted save, named by no state, is gone with the next.
    assert map_files(path) == [state.card_map.name]


def test_a_save_interrupted_after_the_state_file_leaves_the_new_pair(tmp_path, monkeypatch):
    log, chain, path, _ = checked(tmp_path, (1, 2))
    log.events(3)
    log.close_map()
    chain.anchor()
    monkeypatch.setattr(monitor_store.Path, "unlink", lambda *_, **__: None)
    state, _ = follow(chain, log, CONTRACT, path, 0, progress=False)
    monkeypatch.undo()
    assert len(map_files(path)) == 2
    loaded = load_state(path, CONTRACT, CHAIN_ID, from_block=0)
    assert loaded.state.tree_size == 5 and loaded.replay is not None


def test_a_card_map_file_torn_while_being_written_is_never_named(tmp_path, monkeypatch):
    log, chain, path, _ = checked(tmp_path, (1, 2))
    log.events(3)
    log.close_map()
    chain.anchor()
    _crash_on_replacing(monkeypatch, "")  # the card-map file is the first one renamed
    with pytest.raises(KeyboardInterrupt):
        follow(chain, log, CONTRACT, path, 0, progress=False)
    monkeypatch.undo()
    assert load_state(path, CONTRACT, CHAIN_ID, from_block=0).state.tree_size == 3
