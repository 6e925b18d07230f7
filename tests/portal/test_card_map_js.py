"""verify.js (the visitor's browser) gives every card map vector in tests/vectors/card-map
the verdict the vector states (docs/card-map.md), as anchoring.cardmap does, and builds
the roots the vectors' maps have."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "portal" / "run_card_map_js.js"
VECTORS = ROOT / "tests" / "vectors" / "card-map"
CASES = sorted(p for p in VECTORS.glob("*.json") if p.name != "roots.json")
ROOTS = VECTORS / "roots.json"


@pytest.fixture(scope="module")
def js_verdicts(node_binary: str) -> dict:
    """verify.js's verdict on every card map vector (and roots.json), from one Node process."""
    out = subprocess.run(
        [node_binary, str(RUNNER), *map(str, CASES), str(ROOTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_there_are_vectors_of_every_verdict():
    errors = {json.loads(p.read_text())["expected"]["error"] for p in CASES}
    assert len(CASES) > 20 and errors == {None, "shape", "root_mismatch"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_js_gives_the_vectors_verdict(path: Path, js_verdicts: dict):
    expected = json.loads(path.read_text())["expected"]
    verdict = js_verdicts[path.name]
    assert verdict["valid"] is expected["valid"], verdict.get("reason")
    assert verdict["error"] == expected["error"], verdict.get("reason")


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_js_builds_the_root_of_the_vectors_map(path: Path, js_verdicts: dict):
    case = json.loads(path.read_text())
    if case["expected"]["valid"]:
        assert js_verdicts[path.name]["root"] == case["root"]


def test_js_builds_every_root_in_roots_json(js_verdicts: dict):
    want = [m["root"] for m in json.loads(ROOTS.read_text())]
    assert "00" * 32 in want and js_verdicts["roots.json"] == want
