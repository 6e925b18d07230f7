"""verify.js (the visitor's browser) gives every RFC 9162 inclusion vector in
tests/vectors/rfc6962 the verdict the vector states, as anchoring.merkle does.

verify.js has no consistency check to hold to the consistency vectors: a visitor checks one
checkpoint's root against the chain, and the chain's contract checks consistency when a
root is anchored (tests/contracts/test_ledger_anchor.py runs those vectors on chain)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "portal" / "run_merkle_vectors_js.js"
VECTORS = ROOT / "tests" / "vectors" / "rfc6962"
CASES = sorted((VECTORS / "inclusion").rglob("*.json"))


def _case_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


@pytest.fixture(scope="module")
def js_verdicts(node_binary: str) -> dict:
    """verify.js's verdict on every inclusion vector, from one Node process."""
    out = subprocess.run(
        [node_binary, str(RUNNER), *map(str, CASES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_there_are_vectors_to_pass_and_to_reject():
    wants = [json.loads(p.read_text())["wantErr"] for p in CASES]
    assert len(CASES) > 50 and True in wants and False in wants


@pytest.mark.parametrize("path", CASES, ids=_case_id)
def test_js_gives_the_vectors_verdict(path: Path, js_verdicts: dict):
    want_error = json.loads(path.read_text())["wantErr"]
    verdict = js_verdicts[str(path)]
    assert verdict["ok"] is (not want_error), verdict["reason"]
    assert (verdict["reason"] is None) is verdict["ok"]
