"""The load script runs end to end against gunicorn, briefly (figures printed, not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_load_run_prints_throughput_errors_and_latency_per_kind():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.load",
            "--seconds",
            "3",
            "--clients",
            "4",
            "--workers",
            "2",
            "--threads",
            "2",
            "--cards",
            "400",
            "--stores",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gunicorn gthread: 2 workers × 2 threads on http://127.0.0.1:" in run.stdout
    row = r"\s+([\d,]+)\s+[\d.]+\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+$"
    counts = {}
    for kind in ("lookup", "redeem", "issue", "total"):
        match = re.search(rf"^{kind}{row}", run.stdout, re.M)
        assert match, f"no {kind} row in:\n{run.stdout}"
        counts[kind] = int(match[1].replace(",", ""))
        assert match[2] == "0", f"{kind} had errors"
    assert counts["lookup"] > counts["redeem"] > 0 and counts["issue"] > 0
    assert counts["total"] == counts["lookup"] + counts["redeem"] + counts["issue"]
