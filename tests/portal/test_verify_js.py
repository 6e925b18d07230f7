"""verify.js (the visitor's browser) and anchoring.bundle (the auditor's CLI) agree on every
bundle case in tests/anchoring/bundles: same checks, same verdicts and warnings, same
reasons where the rule is the same."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from anchoring.bundle import ChainLatest, verify_bundle

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests" / "anchoring" / "bundles").glob("*.json"))
VERIFY_JS = ROOT / "portal" / "static" / "verify.js"


@pytest.fixture(scope="module")
def js_results(node_binary: str) -> dict:
    """verify.js's report for every case, from one Node process."""
    out = subprocess.run(
        [node_binary, str(ROOT / "tests" / "portal" / "run_verify_js.js"), *map(str, CASES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_js_and_python_report_the_same_checks(path: Path, js_results: dict):
    case = json.loads(path.read_text(encoding="utf-8"))
    roots = case["chain"]["roots"]
    latest = case["chain"]["latest"]
    report = verify_bundle(
        case["bundle"],
        lambda size: bytes.fromhex(roots.get(str(size), "00" * 32)),
        chain_id=case["chain"]["chain_id"],
        card_number=case["card_number"],
        latest=lambda size: ChainLatest(latest["tree_size"], latest["newer_age"]),
    )
    js = js_results[path.stem]
    python_checks = [(c.name, c.ok, c.warning) for c in report.checks]
    assert [(c["name"], c["ok"], c["warning"]) for c in js["checks"]] == python_checks
    assert js["ok"] is report.ok is case["want"]["ok"]
    assert js["warnings"] == [c.name for c in report.warnings] == case["want"]["warnings"]
    if (report.ok and not report.warnings) or "format" in {c.name for c in report.failures}:
        return
    # Outside parsing, both verifiers word their reasons the same way.
    assert [c["reason"] for c in js["checks"]] == [c.reason for c in report.checks]


def test_js_canonical_json_matches_rfc8785_on_awkward_strings(node_binary):
    import rfc8785

    value = {
        "b": [1, -2, 0, True, None],
        "a": 'tab\t"q" \\ \u2028 \u0001 \u007f é 😀',
        "😀": 1,
        "\uffff": 2,
        "é": {"z": {}, "A": []},
    }
    script = (
        "const v=require(process.argv[1]);"
        "process.stdout.write(v.canonicalize(JSON.parse(process.argv[2])))"
    )
    out = subprocess.run(
        [node_binary, "-e", script, str(VERIFY_JS), json.dumps(value)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert out.stdout == rfc8785.dumps(value)


def test_js_and_python_share_the_freshness_grace_period(node_binary):
    from anchoring.bundle import FRESHNESS_GRACE_SECONDS

    script = "process.stdout.write(String(require(process.argv[1]).FRESHNESS_GRACE_SECONDS))"
    out = subprocess.run(
        [node_binary, "-e", script, str(VERIFY_JS)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert int(out.stdout) == FRESHNESS_GRACE_SECONDS
