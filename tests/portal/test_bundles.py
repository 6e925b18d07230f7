"""Bundles as the portal assembles them: they verify, and what the server checks."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from anchoring import checkpoints, verify_cli
from anchoring.bundle import verify_bundle
from anchoring.db import write_transaction
from anchoring.schema import log_head, log_leaves, log_nodes
from anchoring.types import Checkpoint
from ledger_service.actor import Actor
from ledger_service.openapi import build_document
from portal.bundles import load_card, load_proofs, status_of

HQ = Actor("hq", "tok_hq_test")


def _recorded(anchored):
    return lambda size: (
        anchored.checkpoint.root if size == anchored.checkpoint.tree_size else bytes(32)
    )


def test_served_bundle_proves_anchored_events_and_lists_newer_ones_as_pending(client, cards):
    store = cards.store()
    number, code = cards.issue()
    cards.issue()
    cards.ledger.claim(HQ, number, "holder-1")
    anchored = cards.anchor()
    cards.ledger.redeem(HQ, number, code, store_id=store)
    bundle = client.get(f"/api/v1/public/cards/{number}/bundle").json
    assert [e["event"]["type"] for e in bundle["events"]] == ["ISSUED", "CLAIMED"]
    assert [e["event"]["type"] for e in bundle["pending"]] == ["REDEEMED"]
    assert bundle["checkpoint"]["tree_size"] == anchored.checkpoint.tree_size == 3
    report = verify_bundle(bundle, _recorded(anchored), chain_id=31337, card_number=number)
    assert report.ok, report.to_json()


def test_bundle_at_a_tree_ending_with_the_card_map_is_version_2_and_proves_complete(client, cards):
    store = cards.store()
    number, code = cards.issue()
    cards.ledger.claim(HQ, number, "holder-1")
    anchored = cards.anchor(card_map=True)
    cards.ledger.redeem(HQ, number, code, store_id=store)
    bundle = client.get(f"/api/v1/public/cards/{number}/bundle").json
    assert bundle["format"] == "cardtrail-bundle/2"
    assert bundle["card_map"]["leaf_index"] == anchored.checkpoint.tree_size - 1 == 2
    assert bundle["card_map"]["event"]["type"] == "CARD_MAP"
    report = verify_bundle(bundle, _recorded(anchored), chain_id=31337, card_number=number)
    assert report.ok and not report.warnings, report.to_json()
    assert "seq 1 is the card's latest event" in report.check("complete").reason
    truncated = {**bundle, "events": bundle["events"][:1], "pending": []}
    report = verify_bundle(truncated, _recorded(anchored), chain_id=31337, card_number=number)
    assert [c.name for c in report.failures] == ["complete"]


def test_card_issued_after_the_card_map_is_proven_absent_from_it(client, cards):
    cards.issue()
    anchored = cards.anchor(card_map=True)
    number, _ = cards.issue()
    bundle = client.get(f"/api/v1/public/cards/{number}/bundle").json
    assert bundle["format"] == "cardtrail-bundle/2" and bundle["events"] == []
    assert bundle["card_map"]["proof"]["other_leaf"] is not None  # the one other card
    report = verify_bundle(bundle, _recorded(anchored), chain_id=31337, card_number=number)
    assert report.check("complete").ok, report.to_json()
    assert "no event in the card map" in report.check("complete").reason


def test_bundle_at_a_checkpoint_from_before_the_card_map_is_version_1_with_a_warning(client, cards):
    number, _ = cards.issue()
    anchored = cards.anchor()
    bundle = client.get(f"/api/v1/public/cards/{number}/bundle").json
    assert bundle["format"] == "cardtrail-bundle/1" and "card_map" not in bundle
    report = verify_bundle(bundle, _recorded(anchored), chain_id=31337, card_number=number)
    assert report.ok and [c.name for c in report.warnings] == ["complete"]


def test_cardtrail_verify_accepts_what_the_portal_serves(client, cards, monkeypatch, tmp_path):
    number, _ = cards.issue()
    anchored = cards.anchor()
    path = tmp_path / "bundle.json"
    path.write_bytes(client.get(f"/api/v1/public/cards/{number}/bundle?download=1").data)

    class Reader:  # the chain, as the anchor recorded it
        def __init__(self, rpc, address):
            assert address == anchored.contract

        def chain_id(self):
            return anchored.chain_id

        def root_at(self, size):
            return _recorded(anchored)(size)

        def latest_checkpoint(self):
            return anchored.checkpoint

    monkeypatch.setattr(verify_cli, "AnchorReader", Reader)
    result = CliRunner().invoke(
        verify_cli.verify_command, [str(path), "--rpc", "http://x", "--card", number, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True


def test_bundle_download_is_an_attachment(client, cards):
    number, _ = cards.issue()
    response = client.get(f"/api/v1/public/cards/{number}/bundle?download=1")
    assert f'filename="cardtrail-bundle-{number}.json"' in response.headers["Content-Disposition"]


def test_unanchored_card_has_only_pending_events_and_fails_the_anchor_check(app, cards):
    number, _ = cards.issue()
    rt = app.extensions["cardtrail"]
    page = load_card(rt.engine, number, "the merchant")
    assert page.bundle["checkpoint"] is None and len(page.bundle["pending"]) == 1
    assert [c.name for c in page.server_report.failures] == ["anchor"]


def test_server_check_fails_when_a_stored_leaf_was_altered(app, cards):
    number, _ = cards.issue()
    cards.ledger.claim(HQ, number, "holder-1")
    cards.anchor()
    rt = app.extensions["cardtrail"]
    with rt.engine.begin() as conn:
        leaf = conn.execute(
            sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == 0)
        ).scalar_one()
        forged = bytes(leaf).replace(b'"ISSUED"', b'"ISSUeD"')
        conn.execute(
            log_leaves.update().where(log_leaves.c.leaf_index == 0).values(leaf_input=forged)
        )
    page = load_card(rt.engine, number, "the merchant")
    failed = [c.name for c in page.server_report.failures]
    assert failed == ["chain", "inclusion[0]"]


def test_latest_anchored_follows_orphaned_checkpoints_and_redeployments(app, cards):
    rt = app.extensions["cardtrail"]

    def latest():
        with write_transaction(rt.engine) as conn:
            return checkpoints.latest_anchored(conn)

    assert latest() is None
    cards.issue()
    first = cards.anchor()
    cards.issue()
    second = cards.anchor()
    assert latest() == second
    with write_transaction(rt.engine) as conn:
        deployment = checkpoints.current_deployment(conn)
        newest = checkpoints.checkpoint_records(conn, deployment)[-1]
        assert newest.anchored == second
        checkpoints.orphan_checkpoint(conn, newest, "reorg")
    assert latest() == first
    with write_transaction(rt.engine) as conn:
        checkpoints.retire_deployment(conn, deployment, "chain reset")
    assert latest() is None
    third = cards.anchor(contract="0x" + "6a" * 20)
    assert latest() == third
    assert third.contract != first.contract


def test_status_of_every_state():
    assert {s: status_of(s).key for s in ("ISSUED", "CLAIMED", "TRANSFERRED")} == dict.fromkeys(
        ("ISSUED", "CLAIMED", "TRANSFERRED"), "unused"
    )
    assert {
        status_of(s).key
        for s in (
            "PICKUP_REQUESTED",
            "PICKUP_READY",
            "PICKUP_SHIPPED",
            "PICKUP_COMPLETED",
            "REDEEMED",
        )
    } == {"used"}
    assert [status_of(s).key for s in ("BLOCKED", "VOIDED", "EXPIRED")] == [
        "blocked",
        "voided",
        "expired",
    ]


def _checkpoint_beyond_the_log(conn) -> None:
    # A recorded anchor of 2 more leaves than the log holds (the head says 4).
    deployment = checkpoints.current_deployment(conn)
    checkpoints.record_checkpoint(
        conn, deployment, Checkpoint(6, b"\x07" * 32), "0x" + "ab" * 32, 99, "0x" + "cd" * 32
    )


def _node_rows_deleted(conn) -> None:
    conn.execute(log_nodes.delete())


def _head_beyond_the_leaves(conn) -> None:
    # The head claims 6 leaves where 4 are stored, and that size is what was anchored.
    conn.execute(log_head.update().values(tree_size=6))
    _checkpoint_beyond_the_log(conn)


@pytest.mark.parametrize(
    "damage",
    [_checkpoint_beyond_the_log, _node_rows_deleted, _head_beyond_the_leaves],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_damaged_log_answers_log_inconsistent_not_a_bare_500(client, cards, caplog, damage):
    numbers = [cards.issue()[0] for _ in range(4)]
    cards.anchor()
    with write_transaction(cards.engine) as conn:
        damage(conn)
    with caplog.at_level(logging.ERROR, logger="portal.bundles"):
        response = client.get(f"/api/v1/public/cards/{numbers[0]}/bundle")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["code"] == "LOG_INCONSISTENT" and problem["status"] == 500
    assert "failed its own consistency check" in problem["detail"]
    assert "cardtrail audit" in problem["detail"]
    errors = [
        r for r in caplog.records if r.name == "portal.bundles" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1 and "consistency check" in errors[0].getMessage()
    # The card's JSON needs the same proofs and says the same.
    assert client.get(f"/api/v1/public/cards/{numbers[0]}").json["code"] == "LOG_INCONSISTENT"


def test_bundle_route_documents_the_log_inconsistent_answer(app):
    operation = build_document(app)["paths"]["/api/v1/public/cards/{number}/bundle"]["get"]
    assert "LOG_INCONSISTENT" in operation["responses"]["500"]["description"]
    assert "cardtrail audit" in operation["description"]


def test_the_bundle_routes_proofs_are_the_card_pages_bundle(app, cards):
    store = cards.store()
    number, code = cards.issue(allowed_stores=[store])
    cards.ledger.claim(HQ, number, "holder-1")
    cards.anchor(card_map=True)
    cards.ledger.redeem(HQ, number, code, store_id=store)
    rt = app.extensions["cardtrail"]
    proofs = load_proofs(rt.engine, number)
    page = load_card(rt.engine, number, "the merchant")
    assert proofs.bundle == page.bundle and proofs.bundle["card_map"]
    assert (proofs.history, proofs.checkpoint) == (page.history, page.checkpoint)
