"""Bundles as the portal assembles them: they verify, and what the server checks."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner

from anchoring import verify_cli
from anchoring.bundle import verify_bundle
from anchoring.schema import log_leaves
from ledger_service.actor import Actor
from portal.bundles import load_card, status_of

HQ = Actor("hq", "tok_hq_test")


def _recorded(anchored):
    return lambda size: anchored.checkpoint.root if size == anchored.checkpoint.tree_size else bytes(32)


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

    monkeypatch.setattr(verify_cli, "AnchorReader", Reader)
    result = CliRunner().invoke(verify_cli.verify_command,
                                [str(path), "--rpc", "http://x", "--card", number, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True


def test_bundle_download_is_an_attachment(client, cards):
    number, _ = cards.issue()
    response = client.get(f"/api/v1/public/cards/{number}/bundle?download=1")
    assert f'filename="cardtrail-bundle-{number}.json"' in response.headers["Content-Disposition"]


def test_unanchored_card_has_only_pending_events_and_fails_the_anchor_check(app, cards):
    number, _ = cards.issue()
    rt = app.extensions["cardtrail"]
    page = load_card(rt.engine, rt.secret_key, number, "the merchant")
    assert page.bundle["checkpoint"] is None and len(page.bundle["pending"]) == 1
    assert [c.name for c in page.server_report.failures] == ["anchor"]


def test_server_check_fails_when_a_stored_leaf_was_altered(app, cards):
    number, _ = cards.issue()
    cards.ledger.claim(HQ, number, "holder-1")
    cards.anchor()
    rt = app.extensions["cardtrail"]
    with rt.engine.begin() as conn:
        leaf = conn.execute(sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == 0)).scalar_one()
        forged = bytes(leaf).replace(b'"ISSUED"', b'"ISSUeD"')
        conn.execute(log_leaves.update().where(log_leaves.c.leaf_index == 0).values(leaf_input=forged))
    page = load_card(rt.engine, rt.secret_key, number, "the merchant")
    failed = [c.name for c in page.server_report.failures]
    assert failed == ["chain", "inclusion[0]"]


def test_status_of_every_state():
    assert {s: status_of(s).key for s in ("ISSUED", "CLAIMED", "TRANSFERRED")} == dict.fromkeys(
        ("ISSUED", "CLAIMED", "TRANSFERRED"), "unused")
    assert {status_of(s).key for s in ("PICKUP_REQUESTED", "PICKUP_READY", "PICKUP_SHIPPED",
                                       "PICKUP_COMPLETED", "REDEEMED")} == {"used"}
    assert [status_of(s).key for s in ("BLOCKED", "VOIDED", "EXPIRED")] == \
        ["blocked", "voided", "expired"]
