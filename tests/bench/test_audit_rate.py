"""The audit section: its process counts, and the yardstick that scales the figure before."""

from __future__ import annotations

import pytest

from bench.audit_rate import process_counts, yardstick


@pytest.mark.parametrize(
    ("cores", "counts"),
    [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (8, [1, 2, 4, 8]), (12, [1, 2, 4, 8, 12])],
)
def test_process_counts_run_up_to_every_core(cores, counts):
    assert process_counts(cores) == counts


def test_the_yardstick_counts_events_of_one_core_per_second_and_repeats():
    first, second = yardstick(rounds=2), yardstick(rounds=2)
    # Thousands of JSON round trips a second on any machine, and the same machine twice
    # within a factor of two (it is the best of its rounds).
    assert first > 1_000 and second > 1_000
    assert 0.5 < first / second < 2
