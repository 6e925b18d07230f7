"""The report: results.json and the generated part of docs/benchmarks.md."""

from __future__ import annotations

from bench import report
from bench.common import Section, Target


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
