"""The bundle verifier against the case files in tests/anchoring/bundles (one per mutation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchoring.bundle import (
    FORMAT,
    BundleReport,
    card_commitment,
    parse_bundle,
    summarise,
    verify_bundle,
)
from anchoring.errors import BundleError, ChainUnavailable, VerificationError

CASES = Path(__file__).resolve().parent / "bundles"


def load_cases() -> list[Path]:
    """Every bundle case file, sorted by name."""
    return sorted(CASES.glob("*.json"))


def stub_root_at(case: dict):
    """A ``root_at`` that answers from the case's chain, zeros for sizes never anchored."""
    roots = case["chain"]["roots"]
    return lambda size: bytes.fromhex(roots.get(str(size), "00" * 32))


def run_case(case: dict) -> BundleReport:
    """Verify a case's bundle the way ``cardtrail verify --card`` would."""
    return verify_bundle(
        case["bundle"],
        stub_root_at(case),
        chain_id=case["chain"]["chain_id"],
        card_number=case["card_number"],
    )


def test_case_folder_holds_the_tampering_cases():
    names = {p.stem for p in load_cases()}
    assert {"valid", "changed-event-field", "swapped-proof-hash", "wrong-checkpoint-root",
            "removed-middle-event", "bundle-for-another-card"} <= names


@pytest.mark.parametrize("path", load_cases(), ids=lambda p: p.stem)
def test_bundle_case(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    report = run_case(case)
    want = case["want"]
    assert [c.name for c in report.failures] == want["failed"], summarise(report)
    assert report.ok is want["ok"]
    for name, text in want["reasons"].items():
        assert text in report.check(name).reason, summarise(report)


def test_valid_bundle_runs_one_check_per_rule():
    case = json.loads((CASES / "valid.json").read_text(encoding="utf-8"))
    names = [c.name for c in run_case(case).checks]
    assert names == ["format", "card", "commitment", "chain", "pending", "inclusion[2]",
                     "inclusion[5]", "inclusion[6]", "inclusion[9]", "network", "anchor"]


def test_chain_is_not_asked_about_a_bundle_from_another_chain():
    case = json.loads((CASES / "valid.json").read_text(encoding="utf-8"))
    asked = []
    report = verify_bundle(case["bundle"], lambda size: asked.append(size) or b"", chain_id=5)
    assert not report.ok and asked == []


def test_unreachable_chain_fails_the_anchor_check_with_the_reason():
    case = json.loads((CASES / "valid.json").read_text(encoding="utf-8"))

    def down(size: int) -> bytes:
        raise ChainUnavailable("connection refused")

    report = verify_bundle(case["bundle"], down)
    assert [c.name for c in report.failures] == ["anchor"]
    assert "connection refused" in report.check("anchor").reason


def test_parse_bundle_rejects_malformed_input_with_bundle_error():
    with pytest.raises(BundleError, match="holds no events"):
        parse_bundle({"format": FORMAT, "card_number": "X", "card_salt": "00",
                      "checkpoint": None, "events": [], "pending": []})
    with pytest.raises(VerificationError, match="must be a JSON object"):
        parse_bundle([1, 2])


def test_parse_bundle_keeps_exact_leaf_bytes():
    case = json.loads((CASES / "valid-unicode-data.json").read_text(encoding="utf-8"))
    bundle = parse_bundle(case["bundle"])
    first = bundle.events[1]
    assert "礼盒".encode() not in first.leaf_input
    assert "😀".encode() in first.leaf_input
    assert bundle.checkpoint is not None and bundle.checkpoint.chain_id == 31337


def test_card_commitment_is_sha256_of_salt_and_number():
    import hashlib

    assert card_commitment(b"\x01" * 16, "CT1") == hashlib.sha256(b"\x01" * 16 + b"CT1").hexdigest()


def test_report_json_lists_every_check():
    case = json.loads((CASES / "removed-middle-event.json").read_text(encoding="utf-8"))
    doc = run_case(case).to_json()
    assert doc["ok"] is False and doc["card_number"] == case["bundle"]["card_number"]
    chain = next(c for c in doc["checks"] if c["name"] == "chain")
    assert chain["ok"] is False and "seq 1 is missing" in chain["reason"]
