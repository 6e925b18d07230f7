"""The report: results.json and the generated part of docs/benchmarks.md."""

from __future__ import annotations

from bench import report
from bench.common import Section, Target

INFO = {
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


def _meta(quick: bool, finished_at: str, sections: list[str]) -> dict[str, object]:
    return {
        "quick": quick,
        "finished_at": finished_at,
        "elapsed_s": 1.0,
        "runs": 1,
        "sections": sections,
    }


def test_rewriting_the_page_keeps_the_text_outside_the_markers(tmp_path):
    markdown = tmp_path / "benchmarks.md"
    markdown.write_text(f"# Title\n\n{report.BEGIN}\nold figures\n{report.END}\n\n## Fixes\nkept\n")
    section = Section("s", "S", [(["a"], [["1"]])], [Target("f", "1", "≤ 2", True)], ["n"], {})
    report.write([section], INFO, _meta(True, "now", ["s"]), tmp_path / "r.json", markdown)
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


def _section(key: str, figure: str) -> Section:
    return Section(
        key, key.upper(), [(["h"], [[figure]])], [Target(key, figure, "g", True)], [], {}
    )


def test_a_partial_run_keeps_the_other_sections_of_the_full_run_before_and_says_whose(tmp_path):
    results, markdown = tmp_path / "r.json", tmp_path / "b.md"
    full = [_section("a", "a-then"), _section("b", "b-then")]
    report.write(full, INFO, _meta(False, "T1", ["a", "b"]), results, markdown)
    again = report.carried(report.read(results), [_section("b", "b-now")])
    report.write(again, {**INFO, "git_commit": "def"}, _meta(False, "T2", ["b"]), results, markdown)
    text = markdown.read_text()
    assert "Run of b of T2" in text
    assert "b-now" in text and "b-then" not in text
    # a's table and its target come back whole, marked with the run that measured them.
    assert "| a-then |" in text and "| a | a-then | — | g | ✅ met |" in text
    assert "from the run of T1 (commit abc)" in text
    assert text.index("### A") < text.index("from the run of T1") < text.index("### B")
    # Carried once more, a section keeps the run that measured it, not the one that kept it.
    third = report.carried(report.read(results), [_section("b", "b-later")])
    assert third[0].data[report.MEASURED_IN] == {"finished_at": "T1", "commit": "abc"}


def test_nothing_is_carried_from_a_quick_run_or_from_no_run(tmp_path):
    results = tmp_path / "r.json"
    assert report.read(results) is None
    report.write([_section("a", "1")], INFO, _meta(True, "T1", ["a"]), results, tmp_path / "b.md")
    kept = report.carried(report.read(results), [_section("b", "2")])
    assert [s.key for s in kept] == ["b"]
