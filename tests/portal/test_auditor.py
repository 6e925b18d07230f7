"""The auditors' JSON routes: chain, checkpoints and RFC 9162 proofs from the stored tree."""

from __future__ import annotations

import pytest

from anchoring import merkle
from ledger_service.actor import Actor

HQ = Actor("hq", "tok_hq_test")


def _hex_list(values):
    return [bytes.fromhex(v) for v in values]


def test_chain_is_null_before_the_first_deployment(client):
    body = client.get("/api/v1/chain").json
    assert body == {"chain_id": None, "contract": None, "rpc_url": "http://127.0.0.1:8545"}


def test_chain_names_the_current_deployment(client, cards):
    cards.issue()
    anchored = cards.anchor(chain_id=5, contract="0x" + "ab" * 20)
    body = client.get("/api/v1/chain").json
    assert body["chain_id"] == 5 and body["contract"] == anchored.contract


def test_latest_checkpoint_is_not_anchored_until_the_first_anchor(client, cards):
    first = client.get("/api/v1/log/checkpoints/latest")
    assert first.status_code == 404 and first.json["code"] == "NOT_ANCHORED"
    cards.issue()
    one = cards.anchor()
    cards.issue()
    cards.issue()
    two = cards.anchor()
    latest = client.get("/api/v1/log/checkpoints/latest").json
    assert latest["tree_size"] == two.checkpoint.tree_size == 3
    listed = client.get("/api/v1/log/checkpoints").json["checkpoints"]
    assert [c["tree_size"] for c in listed] == [one.checkpoint.tree_size, 3]
    assert listed[0]["root"] == one.checkpoint.root.hex()


def test_inclusion_proof_leads_to_the_anchored_root(client, cards):
    for _ in range(5):
        cards.issue()
    anchored = cards.anchor()
    for leaf in range(5):
        body = client.get("/api/v1/log/proofs/inclusion",
                          query_string={"leaf_index": leaf, "tree_size": 5}).json
        assert body["root"] == anchored.checkpoint.root.hex()
        merkle.verify_inclusion(leaf, 5, bytes.fromhex(body["leaf_hash"]),
                                _hex_list(body["proof"]), anchored.checkpoint.root)


def test_consistency_proof_links_two_checkpoints(client, cards):
    cards.issue()
    cards.issue()
    old = cards.anchor()
    for _ in range(3):
        cards.issue()
    new = cards.anchor()
    body = client.get("/api/v1/log/proofs/consistency", query_string={"first": 2, "second": 5}).json
    assert body["first_root"] == old.checkpoint.root.hex()
    assert body["second_root"] == new.checkpoint.root.hex()
    merkle.verify_consistency(2, 5, old.checkpoint.root, new.checkpoint.root,
                              _hex_list(body["proof"]))


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("inclusion", {"tree_size": 1}),
        ("inclusion", {"leaf_index": "x", "tree_size": 1}),
        ("inclusion", {"leaf_index": -1, "tree_size": 1}),
        ("inclusion", {"leaf_index": "²", "tree_size": 1}),
        ("inclusion", {"leaf_index": 1, "tree_size": 1}),
        ("inclusion", {"leaf_index": 0, "tree_size": 99}),
        ("consistency", {"first": 0, "second": 1}),
        ("consistency", {"first": 2, "second": 1}),
        ("consistency", {"first": 1, "second": 99}),
    ],
)
def test_bad_proof_parameters_are_validation_failed(client, cards, path, query):
    cards.issue()
    response = client.get(f"/api/v1/log/proofs/{path}", query_string=query)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "VALIDATION_FAILED"
