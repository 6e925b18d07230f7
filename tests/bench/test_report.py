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


def test_the_summary_puts_each_goal_beside_the_row_that_answers_it_or_says_it_is_missing():
    goals = {
        "issue 9": (
            report.Goal("i9.fast", "speed", "≥ 2×"),
            report.Goal("i9.small", "size", "≤ 1 MiB"),
        )
    }
    answered = Target("speed of x", "2.5×", "≥ 2×", True, "peer 1.0×", key="i9.fast")
    unrelated = Target("other", "1", "≤ 2", False)
    section = Section("s", "S", [], [unrelated, answered], [], {})
    text = report.summary([section], goals)
    assert text.splitlines()[0] == "### Targets of issue 9"
    assert "| speed | 2.5× (peer 1.0×) | ≥ 2× | ✅ met |" in text
    assert "| size | not measured in this run | ≤ 1 MiB | — not measured |" in text
    assert "other" not in text


def test_a_missed_goal_says_so_and_every_issue_18_goal_has_a_row():
    missed = Target("audit", "2.0×", "≥ 4×", False, key="issue18.audit")
    rows = report.summary_rows([missed], report.GOALS["issue 18"])
    assert len(rows) == len(report.GOALS["issue 18"]) == 10
    assert ["`cardtrail audit`", "2.0×", "≥ 4× the serial audit's events/s", "❌ missed"] in rows
    assert sum(r[1] == "not measured in this run" for r in rows) == 9


def test_the_generated_part_opens_with_the_issue_targets_before_every_target():
    section = Section(
        "s", "S", [], [Target("bundle", "0.9×", "≥ 0.8×", True, key="issue18.bundle")], [], {}
    )
    meta = {"quick": False, "finished_at": "now", "elapsed_s": 60.0}
    info = {
        "cores": 2,
        "memory_bytes": None,
        "load_average_at_start": None,
        "platform": "p",
        "python_implementation": "CPython",
        "python": "3",
        "sqlite": "3",
        "libraries": {},
    }
    text = report.render([section], info, meta)
    assert text.index("### Targets of issue 18") < text.index("### Targets\n")
    assert "| Public bundle `/api/v1/public/cards/<number>/bundle`, random cards | 0.9× |" in text
