"""The card map section of ``python -m bench`` runs and reports its figures (not asserted)."""

from __future__ import annotations

from bench import cardmap
from bench.common import Config


def test_quick_card_map_section_measures_every_figure(tmp_path):
    section = cardmap.run(Config(quick=True, runs=1, postgres_url=None, workdir=tmp_path))
    data = section.data
    assert (
        data["cards"] == 10_020
    )  # 10 new cards per update, one warm-up and one timed and data["changed_per_checkpoint"] == 100
    assert data["update_s"]["runs"] == 1 and data["proof_s"]["count"] == 200
    # Version 2 carries the map leaf, its inclusion proof and the map proof on top of v1.
    assert data["bundle_bytes"]["v2"] > data["bundle_bytes"]["v1"]
    assert data["anchor_gas"]["gas_used"] > 21_000
    assert [t.met in (True, False) for t in section.targets] == [True, True]
    assert "--quick" in section.notes[0]
