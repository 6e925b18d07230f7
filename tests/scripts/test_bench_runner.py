"""The benchmark runner still runs end to end and writes its report (figures not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import report
from bench.common import Section, Target

ROOT = Path(__file__).resolve().parents[2]


def test_a_quick_merkle_run_writes_results_and_the_table(tmp_path):
    results, markdown = tmp_path / "results.json", tmp_path / "benchmarks.md"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "merkle",
            "--runs",
            "1",
            "--results",
            str(results),
            "--markdown",
            str(markdown),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    document = json.loads(results.read_text())
    assert document["machine"]["cores"] >= 1
    assert document["machine"]["libraries"]["pymerkle"]
    merkle = document["sections"]["merkle"]
    assert {
        "lower_bound",
        "cardtrail_memory",
        "cardtrail_stored",
        "pymerkle_memory",
        "pymerkle_sqlite",
    } <= set(merkle["data"])
    # merkletools only exists where `make bench` installed it; every other target is judged.
    judged = [t for t in merkle["targets"] if "merkletools" not in t["figure"]]
    assert judged and all(t["met"] in (True, False) for t in judged)
    text = markdown.read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    assert "lower bound" in text and "pymerkle" in text


def test_rewriting_the_page_keeps_the_text_outside_the_markers(tmp_path):
    markdown = tmp_path / "benchmarks.md"
    markdown.write_text(f"# Title\n\n{report.BEGIN}\nold figures\n{report.END}\n\n## Fixes\nkept\n")
    section = Section("s", "S", [(["a"], [["1"]])], [Target("f", "1", "≤ 2", True)], ["n"], {})
    meta = {"quick": True, "finished_at": "now", "elapsed_s": 1.0, "runs": 1, "sections": ["s"]}
    info = {
        "cores": 2,
        "memory_bytes": 2**30,
        "load_average_at_start": [0.1, 0.2, 0.3],
        "platform": "p",
        "python_implementation": "CPython",
        "python": "3",
        "sqlite": "3",
        "libraries": {"x": "1"},
        "git_commit": "abc",
    }
    report.write([section], info, meta, tmp_path / "r.json", markdown)
    text = markdown.read_text()
    assert text.startswith("# Title\n") and text.rstrip().endswith("kept")
    assert "old figures" not in text
    assert "| f | 1 | — | ≤ 2 | ✅ met |" in text
