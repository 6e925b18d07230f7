"""The audit section's process counts: 1, the powers of two, and every core."""

from __future__ import annotations

import pytest

from bench.audit_rate import process_counts


@pytest.mark.parametrize(
    ("cores", "counts"),
    [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (8, [1, 2, 4, 8]), (12, [1, 2, 4, 8, 12])],
)
def test_process_counts_run_up_to_every_core(cores, counts):
    assert process_counts(cores) == counts
