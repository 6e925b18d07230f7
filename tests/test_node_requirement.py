"""Without Node, a test that needs it is skipped on a developer's machine and fails in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from node_requirement import missing_node_outcome, running_under_ci

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["true", "True", "1", "yes", "github-actions"])
def test_ci_set_to_a_true_value_makes_a_missing_node_fail(value):
    assert running_under_ci({"CI": value})
    assert missing_node_outcome({"CI": value}) == "fail"


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}, {"CI": " no "}])
def test_without_ci_a_missing_node_is_skipped(environ):
    assert not running_under_ci(environ)
    assert missing_node_outcome(environ) == "skip"


def test_other_variables_do_not_count_as_ci():
    assert missing_node_outcome({"CARDTRAIL_REQUIRE_POSTGRES": "1", "GITHUB_CI": "true"}) == "skip"


def test_node_binary_runs_node(node_binary):
    out = subprocess.run(
        [node_binary, "-e", "process.stdout.write(process.version)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout.startswith("v")


def _run_without_node(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """This file's node_binary test, in a fresh pytest whose PATH holds no node."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # an empty folder: no node on it
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            f"{Path(__file__).relative_to(ROOT)}::test_node_binary_runs_node",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_fixture_skips_with_a_reason_outside_ci(tmp_path):
    run = _run_without_node(tmp_path, ci=None)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout and "node is not installed" in run.stdout


def test_the_fixture_fails_the_run_under_ci(tmp_path):
    run = _run_without_node(tmp_path, ci="true")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 error" in run.stdout and "CI requires it" in run.stdout
