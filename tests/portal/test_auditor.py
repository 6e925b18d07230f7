"""The auditors' JSON routes: chain, checkpoints and RFC 9162 proofs from the stored tree."""

from __future__ import annotations

import base64
import json

import pytest
from apptools import set_limits

from anchoring import checkpoints, merkle
from anchoring.db import write_transaction
from anchoring.types import Checkpoint
from ledger_service.actor import Actor
from portal import auditor
from portal.auditor import CHECKPOINT_PAGE_SIZE

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


def _record_checkpoints(app, sizes) -> None:
    """Checkpoints as the worker records them (the list does not recompute their roots)."""
    with write_transaction(app.extensions["cardtrail"].engine) as conn:
        deployment = checkpoints.record_deployment(
            conn, 31337, "0x" + "5f" * 20, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )
        for size in sizes:
            checkpoints.record_checkpoint(
                conn,
                deployment,
                Checkpoint(size, size.to_bytes(32, "big")),
                "0x" + f"{size:064x}",
                size,
                "0x" + f"{size:064x}",
            )


def _sizes(body) -> list[int]:
    return [c["tree_size"] for c in body["checkpoints"]]


def test_checkpoints_come_in_pages_linked_by_next(app, client):
    _record_checkpoints(app, [2, 3, 5, 8, 13])
    first = client.get("/api/v1/log/checkpoints", query_string={"limit": 2}).json
    assert _sizes(first) == [2, 3] and first["next"] == "/api/v1/log/checkpoints?start=4&limit=2"
    second = client.get(first["next"]).json
    assert _sizes(second) == [5, 8]
    last = client.get(second["next"]).json
    assert _sizes(last) == [13] and last["next"] is None
    exact = client.get("/api/v1/log/checkpoints", query_string={"start": 5, "limit": 3}).json
    assert _sizes(exact) == [5, 8, 13] and exact["next"] is None
    assert client.get("/api/v1/log/checkpoints?start=14").json == {"checkpoints": [], "next": None}


def test_a_checkpoint_page_holds_at_most_the_documented_maximum(app, client):
    _record_checkpoints(app, range(1, CHECKPOINT_PAGE_SIZE + 2))
    full = client.get("/api/v1/log/checkpoints").json
    assert _sizes(full) == list(range(1, CHECKPOINT_PAGE_SIZE + 1))
    rest = client.get(full["next"]).json
    assert _sizes(rest) == [CHECKPOINT_PAGE_SIZE + 1] and rest["next"] is None
    too_many = client.get(
        "/api/v1/log/checkpoints", query_string={"limit": CHECKPOINT_PAGE_SIZE + 1}
    )
    assert too_many.status_code == 422 and too_many.json["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": "x"}, {"start": -1}, {"start": "1.5"}])
def test_bad_checkpoint_page_parameters_are_validation_failed(client, query):
    response = client.get("/api/v1/log/checkpoints", query_string=query)
    assert response.status_code == 422 and response.json["code"] == "VALIDATION_FAILED"


def test_the_checkpoint_list_is_rate_limited_per_client(app, client):
    set_limits(app, public_per_ip=(2, 60.0))
    statuses = [client.get("/api/v1/log/checkpoints").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = client.get("/api/v1/log/checkpoints")
    assert refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "RATE_LIMITED" and int(refused.headers["Retry-After"]) >= 1
    other = client.get("/api/v1/log/checkpoints", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert other.status_code == 200


def test_inclusion_proof_leads_to_the_anchored_root(client, cards):
    for _ in range(5):
        cards.issue()
    anchored = cards.anchor()
    for leaf in range(5):
        body = client.get(
            "/api/v1/log/proofs/inclusion", query_string={"leaf_index": leaf, "tree_size": 5}
        ).json
        assert body["root"] == anchored.checkpoint.root.hex()
        merkle.verify_inclusion(
            leaf,
            5,
            bytes.fromhex(body["leaf_hash"]),
            _hex_list(body["proof"]),
            anchored.checkpoint.root,
        )


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
    merkle.verify_consistency(
        2, 5, old.checkpoint.root, new.checkpoint.root, _hex_list(body["proof"])
    )


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


# --- leaves --------------------------------------------------------------------------------


def _all_leaves(client, **query) -> list[bytes]:
    """Every leaf, following ``next`` from the first page."""
    url, found = "/api/v1/log/leaves", []
    params: dict | None = {"start": 0, **query}
    while url:
        body = client.get(url, query_string=params).json
        assert body["start"] == query.get("start", 0) + len(found)
        assert body["end"] == body["start"] + len(body["leaves"])
        found += [base64.b64decode(leaf, validate=True) for leaf in body["leaves"]]
        url, params = body["next"], None
    return found


def test_leaves_are_the_exact_bytes_hashed_into_the_anchored_tree(client, cards):
    for _ in range(3):
        cards.issue(product="白酒 53% 500ml")
    anchored = cards.anchor()
    leaves = _all_leaves(client)
    assert len(leaves) == 3
    assert merkle.root([merkle.hash_leaf(leaf) for leaf in leaves]) == anchored.checkpoint.root
    assert json.loads(leaves[0].decode("utf-8"))["leaf_index"] == 0


def test_leaves_come_in_bounded_pages_linked_by_next(client, cards, monkeypatch):
    monkeypatch.setattr(auditor, "LEAF_PAGE_SIZE", 2)
    for _ in range(5):
        cards.issue()
    first = client.get("/api/v1/log/leaves", query_string={"start": 0}).json
    assert len(first["leaves"]) == 2 and first["tree_size"] == 5
    assert first["next"] == "/api/v1/log/leaves?start=2"
    assert len(_all_leaves(client)) == 5
    bounded = client.get("/api/v1/log/leaves", query_string={"start": 1, "end": 4}).json
    assert (bounded["end"], bounded["next"]) == (3, "/api/v1/log/leaves?start=3&end=4")


def test_an_end_past_the_log_stops_at_its_size(client, cards):
    cards.issue()
    body = client.get("/api/v1/log/leaves", query_string={"start": 0, "end": 99}).json
    assert (body["end"], len(body["leaves"]), body["next"]) == (1, 1, None)
    at_end = client.get("/api/v1/log/leaves", query_string={"start": 1}).json
    assert at_end["leaves"] == [] and at_end["next"] is None


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"start": -1},
        {"start": "x"},
        {"start": 2},
        {"start": 0, "end": 0},
        {"start": 1, "end": 1},
    ],
)
def test_bad_leaf_parameters_are_validation_failed(client, cards, query):
    cards.issue()
    response = client.get("/api/v1/log/leaves", query_string=query)
    assert response.status_code == 422 and response.json["code"] == "VALIDATION_FAILED"


def test_the_leaves_are_rate_limited_per_client(app, client, cards):
    cards.issue()
    set_limits(app, public_per_ip=(2, 60.0))
    statuses = [client.get("/api/v1/log/leaves?start=0").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
