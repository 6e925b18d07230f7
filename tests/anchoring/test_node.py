"""Local anvil node: its chain state and log under the data directory are the owner's alone."""

from __future__ import annotations

import logging
import stat
import time

import pytest

from anchoring.node import free_port, rpc_call, start_anvil

pytestmark = pytest.mark.node


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _wait_for_content(path, timeout: float = 15.0) -> None:
    # npm's anvil wrapper exits as soon as it has passed SIGINT on, so the anvil binary
    # may still be writing its state when stop() returns.
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > 0):
        assert time.monotonic() < deadline, f"anvil wrote no state to {path}"
        time.sleep(0.05)


def test_anvil_state_and_log_are_0600_in_a_0700_chain_directory(tmp_path, usual_umask):
    chain = tmp_path / "data" / "chain"
    state, log = chain / "anvil-state.json", chain / "anvil.log"
    node = start_anvil(free_port(), state_path=state, log_path=log)
    try:
        rpc_call(node.url, "evm_mine")
    finally:
        node.stop()  # SIGINT: anvil writes its state file on the way out
    _wait_for_content(state)
    assert {p.name: _mode(p) for p in (chain, state, log)} == {
        "chain": 0o700,
        "anvil-state.json": 0o600,
        "anvil.log": 0o600,
    }


def test_anvil_state_and_log_left_0644_by_an_older_version_are_tightened(
    tmp_path, usual_umask, caplog
):
    first = start_anvil(
        free_port(), state_path=tmp_path / "state.json", log_path=tmp_path / "anvil.log"
    )
    first.stop()
    state, log = tmp_path / "state.json", tmp_path / "anvil.log"
    _wait_for_content(state)
    state.chmod(0o644)
    log.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="cardtrail.anchoring"):
        node = start_anvil(free_port(), state_path=state, log_path=log)
    node.stop()
    assert (_mode(state), _mode(log)) == (0o600, 0o600)
    assert f"tightened the permissions of {state} from 0644 to 0600" in caplog.text
