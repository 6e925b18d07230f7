"""The proof benchmark still runs end to end (tiny, untimed: figures are not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_proofs.py"


def test_a_tiny_benchmark_run_prints_every_figure():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--leaves", "2000", "--queries", "50", "--batch", "300"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "log: 2,000 leaves on SQLite" in out
    assert re.search(r"^append: [\d,]+ leaves/s", out, re.M)
    for kind in ("inclusion", "consistency", "root"):
        figures = rf"p50 [\d.]+ ms  p99 [\d.]+ ms  max [\d.]+ ms"
        assert re.search(rf"^{kind}\s+wall {figures}\n\s+cpu  {figures}$", out, re.M), out
    assert "no divergence" in out


def test_the_benchmark_refuses_a_log_too_small_to_prove():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--leaves", "1"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert "--leaves must be at least 2" in run.stderr
