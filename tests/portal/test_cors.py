"""Cross-origin reads: the public routes allow any origin (GET, no credentials); the
merchant API and the console allow none."""

from __future__ import annotations

import pytest

from ledger_service.auth import create_token

ORIGIN = {"Origin": "https://verifier.example.org"}


@pytest.fixture
def number(cards) -> str:
    found, _ = cards.issue()
    cards.anchor()
    return found


def _public_paths(number: str) -> list[str]:
    return [
        f"/api/v1/public/cards/{number}",
        f"/api/v1/public/cards/{number}/bundle",
        "/api/v1/chain",
        "/api/v1/log/checkpoints",
        "/api/v1/log/checkpoints/latest",
        "/api/v1/log/leaves?start=0&end=1",
        "/api/v1/log/proofs/inclusion?leaf_index=0&tree_size=1",
    ]


def test_public_reads_allow_any_origin_without_credentials(client, number):
    for path in _public_paths(number):
        response = client.get(path, headers=ORIGIN)
        assert response.status_code == 200, path
        assert response.headers["Access-Control-Allow-Origin"] == "*", path
        assert "Access-Control-Allow-Credentials" not in response.headers, path


def test_public_errors_are_readable_cross_origin_too(client):
    response = client.get("/api/v1/public/cards/23456789ABCDEFGH8", headers=ORIGIN)
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_preflight_of_a_public_read_allows_get_only(client, number):
    response = client.options(
        f"/api/v1/public/cards/{number}/bundle",
        headers=ORIGIN | {"Access-Control-Request-Method": "GET"},
    )
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET"


def test_merchant_api_and_console_send_no_cors_headers(app, client, number):
    rt = app.extensions["cardtrail"]
    token = create_token(rt.engine, rt.secret_key, "hq").token
    merchant = client.get(
        f"/api/v1/cards/{number}", headers=ORIGIN | {"Authorization": f"Bearer {token}"}
    )
    assert merchant.status_code == 200
    console = client.get("/console/login", headers=ORIGIN)
    assert console.status_code == 200
    preflight = client.options(
        "/api/v1/cards/issue", headers=ORIGIN | {"Access-Control-Request-Method": "POST"}
    )
    for response in (merchant, console, preflight):
        assert "Access-Control-Allow-Origin" not in response.headers
