"""``cardtrail monitor`` resuming from its --state files: it reads only the new leaves and
checks them exactly as a run from leaf 0 would (in-memory log and chain)."""

from __future__ import annotations

import json

from monitorkit import CONTRACT, AnchoringChain, ServedLog, card

from anchoring import monitor_cli
from anchoring.monitor_cli import follow
from anchoring.monitor_state import STATE_FORMAT_WITHOUT_MAP, MonitorState


def deployment() -> tuple[ServedLog, AnchoringChain]:
    """Two anchored checkpoints, each closed by a CARD_MAP leaf: 8 leaves, cards 1 to 4."""
    log = ServedLog()
    chain = AnchoringChain(log)
    log.events(1, 2, 3)
    log.close_map()
    chain.anchor()
    log.events(1, 4, 2)
    log.close_map()
    chain.anchor()
    return log, chain


def run(log, chain, state_path, **kwargs):
    return follow(chain, log, CONTRACT, state_path, 0, progress=False, **kwargs)


def test_a_resumed_monitor_reads_only_the_leaves_after_its_saved_tree(tmp_path):
    log, chain = deployment()
    state_path = tmp_path / "monitor.json"
    state, divergence = run(log, chain, state_path)
    assert divergence is None and state.tree_size == 8 and log.leaves_served == 8
    log.events(3, 5)
    log.close_map()
    chain.anchor()
    log.leaves_served, log.requests = 0, []
    state, divergence = run(log, chain, state_path)
    assert divergence is None and state.tree_size == 11
    assert log.requests == [(8, 11)] and log.leaves_served == 3


def test_a_resumed_monitor_with_nothing_new_reads_no_leaf(tmp_path):
    log, chain = deployment()
    run(log, chain, tmp_path / "monitor.json")
    log.leaves_served = 0
    state, divergence = run(log, chain, tmp_path / "monitor.json")
    assert divergence is None and state.tree_size == 8 and log.leaves_served == 0


def test_a_resumed_monitor_catches_a_map_leaf_hiding_an_event_of_a_card_seen_before(tmp_path):
    log, chain = deployment()
    run(log, chain, tmp_path / "monitor.json")
    # Card 1's new event is in the log, but the map leaf after it keeps card 1's head from
    # before the resume point: only a map replayed from leaf 0 (or saved) can tell.
    stale = dict(log.heads)
    log.events(1)
    log.close_map(heads=stale)
    assert stale[card(1)] != log.heads[card(1)]
    chain.anchor()
    log.leaves_served = 0
    state, divergence = run(log, chain, tmp_path / "monitor.json")
    assert divergence is not None and log.leaves_served == 2
    assert "CARD_MAP leaf 9: map_root is" in divergence and "the events before it" in divergence


def test_a_resumed_monitor_catches_a_leaf_changed_before_its_saved_tree(tmp_path):
    log, chain = deployment()
    run(log, chain, tmp_path / "monitor.json")
    # The server rewrites leaf 2 and anchors a tree over the rewritten log: the resumed
    # monitor does not read leaf 2 again, but the new root does not extend the one it saved.
    log.leaves[2] = log.leaves[2].replace(b'"ISSUED"', b'"VOIDED"')
    log.events(5)
    log.close_map()
    chain.anchor()
    log.leaves_served = 0
    _, divergence = run(log, chain, tmp_path / "monitor.json")
    assert divergence is not None and log.leaves_served == 2
    assert "does not extend the tree of size 8 checked before" in divergence


def test_a_monitor_without_state_checks_from_leaf_0_and_saves_nothing(tmp_path):
    log, chain = deployment()
    state, divergence = run(log, chain, None)
    assert divergence is None and state.tree_size == 8 and list(tmp_path.iterdir()) == []


def test_a_state_file_of_an_older_monitor_is_checked_from_leaf_0_once_and_says_so(tmp_path, capsys):
    log, chain = deployment()
    state_path = tmp_path / "monitor.json"
    run(log, chain, state_path)
    old = json.loads(state_path.read_text())
    del old["card_map"]
    state_path.write_text(json.dumps(old | {"format": STATE_FORMAT_WITHOUT_MAP}))
    log.leaves_served = 0
    state, divergence = run(log, chain, state_path)
    assert divergence is None and state.tree_size == 8 and log.leaves_served == 8
    assert "holds no card map" in capsys.readouterr().err
    assert json.loads(state_path.read_text())["card_map"] is not None
    log.leaves_served = 0
    run(log, chain, state_path)
    assert log.leaves_served == 0 and "holds no card map" not in capsys.readouterr().err


def test_while_catching_up_the_state_is_saved_only_once_a_minute_and_at_the_end(
    tmp_path, monkeypatch
):
    log, chain = deployment()
    for cards in ((5,), (6,), (7,)):
        log.events(*cards)
        log.close_map()
        chain.anchor()
    saved: list[int] = []
    original = monitor_cli.save_state

    def counting(path, state: MonitorState, replay) -> None:
        saved.append(state.tree_size)
        original(path, state, replay)

    monkeypatch.setattr(monitor_cli, "save_state", counting)
    # The clock at the start, then after each of the five checkpoints (sizes 4 to 14).
    ticks = iter([0.0, 10.0, 70.0, 80.0, 90.0, 140.0])
    run(log, chain, tmp_path / "monitor.json", clock=lambda: next(ticks))
    assert saved == [8, 14, 14]
