"""The anchoring section's latency rounds on a real anvil: every event is anchored, and timed."""

from __future__ import annotations

import pytest

from bench.anchor_latency import measure_latency


@pytest.mark.node
def test_every_appended_event_gets_a_latency_and_every_anchor_its_gas(tmp_path):
    measured = measure_latency(tmp_path, seconds=2, rate=10, interval=0.5)
    assert 10 <= measured.appended <= 25
    assert len(measured.latencies) == measured.appended
    # An event waits at most an interval, a block and the watcher's poll: well under 5 s.
    assert all(0 < seconds < 5 for seconds in measured.latencies)
    assert measured.gas and all(21_000 < gas < 200_000 for gas in measured.gas)
    assert list(tmp_path.iterdir()) == []  # the node's and the log's directory is removed
