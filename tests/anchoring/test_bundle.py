"""The bundle verifier against the case files in tests/anchoring/bundles (one per mutation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchoring.bundle import (
    FORMAT,
    FRESHNESS_GRACE_SECONDS,
    BundleReport,
    ChainLatest,
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


def stub_latest(case: dict):
    """A ``latest`` that answers with the case's newest checkpoint and its age."""
    latest = case["chain"]["latest"]
    return lambda size: ChainLatest(latest["tree_size"], latest["newer_age"])


def run_case(case: dict, require_fresh: bool = False, pinned: bool = False) -> BundleReport:
    """Verify a case's bundle the way ``cardtrail verify --card`` would.

    ``pinned``: as a verifier pinned to an issuer that serves the case's ``serves`` format.
    """
    return verify_bundle(
        case["bundle"],
        stub_root_at(case),
        chain_id=case["chain"]["chain_id"],
        card_number=case["card_number"],
        latest=stub_latest(case),
        require_fresh=require_fresh,
        serves=case.get("serves") if pinned else None,
    )


def load(name: str) -> dict:
    """The case file ``name``.json."""
    return json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))


def test_case_folder_holds_the_tampering_cases():
    names = {p.stem for p in load_cases()}
    assert {
        "valid",
        "changed-event-field",
        "swapped-proof-hash",
        "wrong-checkpoint-root",
        "removed-middle-event",
        "bundle-for-another-card",
        "stale-checkpoint",
        "valid-v2",
        "truncated-last-event",
        "truncated-last-event-downgraded",
    } <= names


@pytest.mark.parametrize("path", load_cases(), ids=lambda p: p.stem)
def test_bundle_case(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    report = run_case(case)
    want = case["want"]
    assert [c.name for c in report.failures] == want["failed"], summarise(report)
    assert [c.name for c in report.warnings] == want["warnings"], summarise(report)
    assert report.ok is want["ok"]
    for name, text in want["reasons"].items():
        assert text in report.check(name).reason, summarise(report)


PINNED = [p for p in load_cases() if "serves" in json.loads(p.read_text(encoding="utf-8"))]


def test_some_cases_say_what_their_issuer_serves():
    assert [p.stem for p in PINNED] == ["truncated-last-event-downgraded"]


@pytest.mark.parametrize("path", PINNED, ids=lambda p: p.stem)
def test_bundle_case_when_pinned_to_its_issuer(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    report = run_case(case, pinned=True)
    want = case["want_when_pinned"]
    assert [c.name for c in report.failures] == want["failed"], summarise(report)
    assert [c.name for c in report.warnings] == want["warnings"], summarise(report)
    assert report.ok is want["ok"]
    for name, text in want["reasons"].items():
        assert text in report.check(name).reason, summarise(report)


def test_truncated_bundle_fails_complete_and_names_the_hidden_head():
    report = run_case(load("truncated-last-event"))
    assert [c.name for c in report.failures] == ["complete"]
    assert "later events were left out" in report.check("complete").reason
    # Every other rule holds: the truncation is invisible without the card map.
    assert all(c.ok for c in report.checks if c.name != "complete")


def test_valid_v2_bundle_proves_its_last_event_is_the_head_with_pending_after():
    report = run_case(load("valid-v2"))
    assert report.ok and not report.warnings
    reason = report.check("complete").reason
    assert "seq 3 is the card's latest event in the card map of tree size 11" in reason
    assert "1 pending event(s) after it, not proven yet" in reason


def test_v2_bundle_of_a_card_absent_from_the_map_proves_it_has_no_anchored_event():
    case = load("valid-v2")
    bundle = case["bundle"]
    # Card A's events all pending: the map proof must then show the card absent.
    bundle = {
        **bundle,
        "pending": [{"leaf_index": e["leaf_index"], "event": e["event"]} for e in bundle["events"]]
        + bundle["pending"],
        "events": [],
    }
    report = verify_bundle(bundle, stub_root_at(case))
    assert report.check("complete").reason == (
        "the card has anchored events that the bundle does not show"
    )


def test_valid_bundle_runs_one_check_per_rule():
    case = json.loads((CASES / "valid.json").read_text(encoding="utf-8"))
    names = [c.name for c in run_case(case).checks]
    assert names == [
        "format",
        "card",
        "commitment",
        "chain",
        "pending",
        "balance",
        "inclusion[2]",
        "inclusion[5]",
        "inclusion[6]",
        "inclusion[9]",
        "complete",
        "network",
        "anchor",
        "freshness",
    ]


def test_case_folder_holds_a_case_for_each_way_a_balance_can_be_wrong():
    names = {p.stem for p in load_cases()}
    assert {
        "valid-stored-value-history",
        "balance-does-not-add-up",
        "negative-balance",
        "refund-increases-more-than-its-amount",
        "adjusted-with-wrong-sign",
        "value-events-on-a-pickup-card",
    } <= names


def test_valid_stored_value_history_is_the_report_s_balance_with_pending_steps_unproven():
    report = run_case(load("valid-stored-value-history"))
    assert report.ok and report.balance is not None
    balance = report.balance
    assert (balance.kind, balance.currency) == ("stored_value", "CNY")
    assert [(s.type, s.amount, s.balance, s.pending) for s in balance.steps] == [
        ("ACTIVATED", 50000, 50000, False),
        ("REDEEMED", -12000, 38000, False),
        ("REFUNDED", 2000, 40000, False),
        ("LOADED", 10000, 50000, False),
        ("ADJUSTED", -500, 49500, False),
        ("BALANCE_SENT", -9500, 40000, False),
        ("REDEEMED", -4000, 36000, True),
        ("BALANCE_RECEIVED", 1000, 37000, True),
    ]
    assert (balance.balance, balance.proven_balance) == (37000, 40000)
    assert "from seq 7 on is pending, not proven yet" in report.check("balance").reason
    document = report.to_json()["balance"]
    assert isinstance(document, dict) and document["proven_balance"] == 40000
    assert document["history"][0] == {
        "seq": 1,
        "leaf_index": 1,
        "type": "ACTIVATED",
        "amount": 50000,
        "balance": 50000,
        "pending": False,
    }


def test_the_summary_lists_a_verified_balance_history_before_the_verdict():
    lines = summarise(run_case(load("valid-stored-value-history")))
    start = lines.index("balance history (stored_value, CNY; minor units or uses):")
    assert lines[start + 1].split() == ["seq", "1", "ACTIVATED", "opening", "->", "50000"]
    assert lines[start + 2].split() == ["seq", "2", "REDEEMED", "-12000", "->", "38000"]
    assert lines[-2].endswith("-> 37000  (pending: not proven yet)")
    assert lines[-1] == "bundle verifies"
    # A bundle that fails proves no balance, so none is listed.
    failed = summarise(run_case(load("balance-does-not-add-up")))
    assert not any(line.startswith("balance history") for line in failed)


def test_a_card_without_value_events_passes_balance_and_has_no_balance():
    for name in ("valid", "valid-v2", "valid-pickup-card-redeemed"):
        report = run_case(load(name))
        assert report.check("balance").ok, name
        assert report.balance is None and report.to_json()["balance"] is None


def test_a_failed_balance_check_proves_no_balance():
    report = run_case(load("balance-does-not-add-up"))
    assert [c.name for c in report.failures] == ["balance"] and report.balance is None


def test_balance_follows_seq_order_not_the_order_events_are_listed():
    case = load("valid-count-card")
    events = case["bundle"]["events"]
    events.reverse()
    report = run_case(case)
    # The chain check refuses the order; the balance is still walked by seq.
    assert report.check("balance").ok and not report.check("chain").ok
    assert report.balance is not None and report.balance.balance == 8


def test_stale_bundle_warns_within_the_grace_period_and_says_what_to_do():
    report = run_case(load("stale-checkpoint"))
    assert report.ok and [c.name for c in report.warnings] == ["complete", "freshness"]
    reason = report.check("freshness").reason
    assert "size 13" in reason and "30 s ago" in reason and "fetch a fresh bundle" in reason
    assert "not at the newest checkpoint" in summarise(report)[-1]
    assert any(line.startswith("WARN  freshness") for line in summarise(report))
    assert report.to_json()["warnings"] == ["complete", "freshness"]


def test_require_fresh_turns_the_stale_warning_into_a_failure():
    report = run_case(load("stale-checkpoint"), require_fresh=True)
    assert [c.name for c in report.failures] == ["freshness"]
    assert "a fresh bundle is required" in report.check("freshness").reason


@pytest.mark.parametrize(
    ("age", "ok"),
    [(FRESHNESS_GRACE_SECONDS, True), (FRESHNESS_GRACE_SECONDS + 1, False), (None, True)],
)
def test_staleness_fails_only_past_the_grace_period(age, ok):
    case = load("stale-checkpoint")
    report = verify_bundle(
        case["bundle"], stub_root_at(case), chain_id=31337, latest=lambda size: ChainLatest(13, age)
    )
    assert report.ok is ok and report.check("freshness").warning is ok
    if age is None:
        assert "at an unknown time" in report.check("freshness").reason


def test_freshness_is_asked_with_the_bundle_size_and_only_once_the_root_is_anchored():
    asked = []

    def latest(size: int) -> ChainLatest:
        asked.append(size)
        return ChainLatest(11)

    assert verify_bundle(
        load("valid")["bundle"], stub_root_at(load("valid")), latest=latest
    ).ok and asked == [11]
    case = load("checkpoint-not-on-chain")
    report = verify_bundle(case["bundle"], stub_root_at(case), latest=latest)
    assert asked == [11] and "freshness" not in [c.name for c in report.checks]


def test_a_chain_whose_newest_checkpoint_is_smaller_fails_freshness():
    case = load("valid")
    report = verify_bundle(case["bundle"], stub_root_at(case), latest=lambda size: ChainLatest(7))
    assert [c.name for c in report.failures] == ["freshness"]
    assert "smaller than the bundle's 11" in report.check("freshness").reason


def test_unreachable_latest_checkpoint_fails_freshness_with_the_reason():
    case = load("valid")

    def down(size: int) -> ChainLatest:
        raise ChainUnavailable("eth_call latestCheckpoint: timed out")

    report = verify_bundle(case["bundle"], stub_root_at(case), latest=down)
    assert [c.name for c in report.failures] == ["freshness"]
    assert "timed out" in report.check("freshness").reason


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
        parse_bundle(
            {
                "format": FORMAT,
                "card_number": "X",
                "card_salt": "00",
                "checkpoint": None,
                "events": [],
                "pending": [],
            }
        )
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
