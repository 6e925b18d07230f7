"""What the sections share: nearest-rank percentiles, latency summaries, throw-away schemas."""

from __future__ import annotations

import pytest

from bench.common import Stat, latency, percentile, postgres_schema


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0, 1.0), (10, 1.0), (50, 5.0), (51, 6.0), (90, 9.0), (99, 10.0), (100, 10.0)],
)
def test_percentile_is_the_nearest_rank_of_the_sorted_samples(p, expected):
    samples = [7.0, 3.0, 10.0, 1.0, 9.0, 2.0, 8.0, 4.0, 6.0, 5.0]
    assert percentile(samples, p) == expected


def test_a_single_sample_is_every_percentile():
    assert {percentile([4.2], p) for p in (1, 50, 99)} == {4.2}


def test_latency_summarises_p50_p99_max_and_count():
    samples = [float(n) for n in range(1, 201)]
    assert latency(samples) == {"p50": 100.0, "p99": 198.0, "max": 200.0, "count": 200}


def test_a_rate_from_times_swaps_min_and_max():
    rate = Stat.of([2.0, 4.0, 1.0]).rate(8)
    assert (rate.median, rate.min, rate.max) == (4.0, 2.0, 8.0)


def test_a_postgres_server_that_does_not_answer_is_a_connection_error():
    # Port 9 on 127.0.0.1 (discard): nothing listens there, so the connection is refused.
    with (
        pytest.raises(ConnectionError, match="PostgreSQL does not answer"),
        postgres_schema("postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2"),
    ):
        pass
