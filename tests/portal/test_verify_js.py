"""verify.js (the visitor's browser) and anchoring.bundle (the auditor's CLI) agree on every
bundle case in tests/anchoring/bundles: same checks, same verdicts and warnings, same
reasons where the rule is the same, and the same balance history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from anchoring.bundle import ChainLatest, IssuerPolicy, PinnedIssuer, verify_bundle

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests" / "anchoring" / "bundles").glob("*.json"))
VERIFY_JS = ROOT / "portal" / "static" / "verify.js"
RUNNER = ROOT / "tests" / "portal" / "run_verify_js.js"
# The contract every case's genuine bundle names (tests/anchoring/bundles/generate.py).
GENUINE = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
FOREIGN = "0x" + "ab" * 20
PIN_SOURCE = "the test's pin"


def _run_js(node_binary: str, files: list[Path], *pin: str) -> dict:
    out = subprocess.run(
        [node_binary, str(RUNNER), *pin, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def js_results(node_binary: str) -> dict:
    """verify.js's report for every case, from one Node process."""
    return _run_js(node_binary, CASES)


@pytest.fixture(scope="module")
def js_pinned_results(node_binary: str) -> dict:
    """verify.js's report for every case, pinned to the genuine contract on the case's chain."""
    return _run_js(node_binary, CASES, f"--pin={GENUINE}")


def _python_report(case: dict, pinned_to: str | None = None):
    roots = case["chain"]["roots"]
    latest = case["chain"]["latest"]
    issuer = None
    if pinned_to is not None:
        pin = PinnedIssuer(case["chain"]["chain_id"], pinned_to, case.get("serves"), PIN_SOURCE)
        issuer = IssuerPolicy(pin)
    return verify_bundle(
        case["bundle"],
        lambda size: bytes.fromhex(roots.get(str(size), "00" * 32)),
        chain_id=case["chain"]["chain_id"],
        card_number=case["card_number"],
        latest=lambda size: ChainLatest(latest["tree_size"], latest["newer_age"]),
        issuer=issuer,
    )


def _assert_same_report(js: dict, report) -> None:
    python_checks = [(c.name, c.ok, c.warning) for c in report.checks]
    assert [(c["name"], c["ok"], c["warning"]) for c in js["checks"]] == python_checks
    assert js["ok"] is report.ok
    assert js["warnings"] == [c.name for c in report.warnings]
    if (report.ok and not report.warnings) or "format" in {c.name for c in report.failures}:
        return
    assert [c["reason"] for c in js["checks"]] == [c.reason for c in report.checks]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_js_and_python_agree_when_pinned_to_the_genuine_issuer(path: Path, js_pinned_results):
    case = json.loads(path.read_text(encoding="utf-8"))
    _assert_same_report(js_pinned_results[path.stem], _python_report(case, GENUINE))


def test_pinned_js_refuses_the_truncated_bundle_and_its_downgraded_twin(js_pinned_results):
    truncated = js_pinned_results["truncated-last-event"]
    downgraded = js_pinned_results["truncated-last-event-downgraded"]
    assert not truncated["ok"] and not downgraded["ok"]
    failed = {c["name"]: c["reason"] for c in downgraded["checks"] if not c["ok"]}
    assert "downgrade" in failed["issuer"] and "downgrade" in failed["complete"]
    assert "later events were left out" in next(
        c["reason"] for c in truncated["checks"] if c["name"] == "complete"
    )


def test_pinned_js_fails_a_bundle_naming_another_contract_and_never_asks_it(node_binary, tmp_path):
    case = json.loads((CASES[0].parent / "valid-v2.json").read_text(encoding="utf-8"))
    case["bundle"]["checkpoint"]["contract"] = FOREIGN
    # Even a chain that answers for the forged contract's root must not be asked.
    path = tmp_path / "foreign-contract.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    js = _run_js(node_binary, [path], f"--pin={GENUINE}")["foreign-contract"]
    report = _python_report(case, GENUINE)
    _assert_same_report(js, report)
    checks = {c["name"]: c for c in js["checks"]}
    assert not js["ok"] and not checks["issuer"]["ok"] and FOREIGN in checks["issuer"]["reason"]
    assert checks["anchor"]["reason"] == "not asked: the bundle is not the pinned issuer's"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_js_and_python_report_the_same_checks(path: Path, js_results: dict):
    case = json.loads(path.read_text(encoding="utf-8"))
    report = _python_report(case)
    js = js_results[path.stem]
    python_checks = [(c.name, c.ok, c.warning) for c in report.checks]
    assert [(c["name"], c["ok"], c["warning"]) for c in js["checks"]] == python_checks
    assert js["ok"] is report.ok is case["want"]["ok"]
    assert js["warnings"] == [c.name for c in report.warnings] == case["want"]["warnings"]
    # The balance history both give the page is the same, step by step.
    assert js["balance"] == report.to_json()["balance"]
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


_VERDICT_SCRIPT = """
const v = require(process.argv[1]);
const c = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const pin = process.argv[3] ? { chainId: c.chain.chain_id, contract: process.argv[3],
                                serves: null, source: "test" } : null;
const rootAt = async (size) => c.chain.roots[String(size)] || "0".repeat(64);
v.verifyBundle(c.bundle, rootAt, { chainId: c.chain.chain_id, issuer: pin }).then((r) => {
  process.stdout.write(JSON.stringify({ ok: r.ok, status: v.statusAfter(r.bundle.all),
                                        verdict: v.verdictText(r, pin) }));
});
"""


def _verdict(node_binary: str, case: str, *pin: str) -> dict:
    out = subprocess.run(
        [node_binary, "-e", _VERDICT_SCRIPT, str(VERIFY_JS), str(CASES[0].parent / case), *pin],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(out.stdout)


def test_a_verified_used_card_is_told_as_used_not_as_a_card_to_accept(node_binary):
    # valid-v2's history ends in a pickup: the proofs hold, and the card is used.
    result = _verdict(node_binary, "valid-v2.json", GENUINE)
    assert result["ok"] and result["status"] == "used"
    assert "has been used. Do not accept it." in result["verdict"]
    assert "Verified in your browser" not in result["verdict"]


def test_the_verdict_names_the_contract_it_was_checked_against(node_binary):
    pinned = _verdict(node_binary, "valid-v2.json", GENUINE)["verdict"]
    unpinned = _verdict(node_binary, "valid-v2.json")["verdict"]
    assert f"the issuer's pinned contract {GENUINE} on chain 31337" in pinned
    assert "a contract this server names" in unpinned and GENUINE in unpinned
    assert "pinned contract" not in unpinned


_STATUS_SCRIPT = """
const v = require(process.argv[1]);
const stories = JSON.parse(process.argv[2]);
process.stdout.write(JSON.stringify(stories.map((story) => v.statusAfter(
  story.map(([type, data]) => ({ event: { type, data } }))))));
"""


def test_a_value_card_s_redemption_spends_its_balance_and_only_a_count_card_s_last_use_ends_it(
    node_binary,
):
    stories = [
        [["ISSUED", {"kind": "stored_value"}], ["REDEEMED", {"amount": 5000, "balance": 0}]],
        [["ISSUED", {"kind": "count"}], ["REDEEMED", {"amount": 1, "balance": 2}]],
        [["ISSUED", {"kind": "count"}], ["REDEEMED", {"amount": 1, "balance": 0}]],
        [["ISSUED", {}], ["REDEEMED", {}]],
    ]
    out = subprocess.run(
        [node_binary, "-e", _STATUS_SCRIPT, str(VERIFY_JS), json.dumps(stories)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(out.stdout) == ["unused", "unused", "used", "used"]


def test_a_withdrawn_or_lapsed_gift_and_a_cancelled_pickup_leave_the_card_unused(node_binary):
    offered = [["ISSUED", {}], ["CLAIMED", {}], ["GIFT_OFFERED", {"offer_id": "gf_1"}]]
    stories = [
        offered,
        [*offered, ["GIFT_WITHDRAWN", {"offer_id": "gf_1"}]],
        [*offered, ["GIFT_RETURNED", {"offer_id": "gf_1"}]],
        [*offered, ["GIFT_ACCEPTED", {"offer_id": "gf_1"}]],
        [*offered, ["GIFT_WITHDRAWN", {"offer_id": "gf_1"}], ["REDEEMED", {}]],
        [["ISSUED", {}], ["PICKUP_REQUESTED", {}], ["PICKUP_REVIEWED", {}]],
        [["ISSUED", {}], ["PICKUP_REQUESTED", {}], ["PICKUP_CANCELLED", {}]],
    ]
    out = subprocess.run(
        [node_binary, "-e", _STATUS_SCRIPT, str(VERIFY_JS), json.dumps(stories)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(out.stdout) == [
        "unused",
        "unused",
        "unused",
        "unused",
        "used",
        "used",
        "unused",
    ]
