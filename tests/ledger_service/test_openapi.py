"""The OpenAPI document: equal to the routes, and generated from the schemas that validate."""

from __future__ import annotations

import jsonschema_rs
import pytest

from ledger_service import errors, schemas
from ledger_service.openapi import api_routes

ISSUE_CODES = (
    "CARD_NOT_FOUND CARD_ALREADY_USED CARD_VOIDED CARD_EXPIRED CARD_BLOCKED INVALID_TRANSITION "
    "STORE_NOT_ALLOWED INVALID_CODE CODE_LOCKED UNAUTHORIZED FORBIDDEN VALIDATION_FAILED "
    "IDEMPOTENCY_MISMATCH PAYLOAD_TOO_LARGE RATE_LIMITED"
).split()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app for the module: the document depends on the routes, not on the database."""
    from cardtrail.app import create_app
    from ledger_service.config import Settings

    directory = tmp_path_factory.mktemp("openapi")
    application = create_app(Settings.from_env(directory, environ={}), {"TESTING": True})
    yield application
    application.extensions["cardtrail"].engine.dispose()


@pytest.fixture(scope="module")
def document(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(document):
    return {
        (path, method): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


def test_every_api_route_is_documented_and_nothing_else(app, document):
    routes = {(path, method) for path, method, _ in api_routes(app)}
    assert routes, "the app registers routes under /api/v1"
    assert set(operations(document)) == routes


def test_document_is_openapi_3_1_with_unique_operation_ids(document):
    assert document["openapi"].startswith("3.1.")
    ids = [op["operationId"] for op in operations(document).values()]
    assert len(ids) == len(set(ids))


def test_component_schemas_are_valid_json_schema(document):
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_every_post_requires_an_idempotency_key(document):
    posts = [op for (_, method), op in operations(document).items() if method == "post"]
    assert posts
    for op in posts:
        headers = [p for p in op["parameters"] if p["in"] == "header"]
        assert len(headers) == 1 and headers[0]["name"] == "Idempotency-Key"
        assert headers[0]["required"] is True


def test_authenticated_operations_list_their_roles(document):
    ops = operations(document)
    assert ops[("/api/v1/cards/{number}/redeem", "post")]["x-roles"] == ["store", "hq"]
    assert ops[("/api/v1/cards", "post")]["x-roles"] == ["hq"]
    assert ops[("/api/v1/openapi.json", "get")]["security"] == []


def test_every_error_code_of_the_api_is_documented_with_its_status(document):
    documented: dict[str, set[str]] = {}
    for op in operations(document).values():
        for status, response in op["responses"].items():
            for code in response["description"].removeprefix("Problem codes: ").split(", "):
                documented.setdefault(code, set()).add(status)
    codes = {cls.code: cls for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.LedgerError)}
    for code in ISSUE_CODES:
        assert documented.get(code) == {str(codes[code].status)}, code


def _validator(document, path, method):
    schema = operations(document)[(path, method)]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for({**schema, "components": document["components"]})


@pytest.mark.parametrize(
    ("path", "model", "body", "valid"),
    [
        ("/api/v1/cards", schemas.IssueCards, {"batch_ref": "B", "cards": [{"product": "x"}]}, True),
        ("/api/v1/cards", schemas.IssueCards,
         {"batch_ref": "B", "cards": [{"product": "x", "face_value": 100000, "currency": "CNY",
                                       "allowed_stores": ["S1"], "expires_at": "2027-12-31T23:59:59Z"}]}, True),
        ("/api/v1/cards", schemas.IssueCards, {"batch_ref": "B", "cards": [{"product": "x", "extra": 1}]}, False),
        ("/api/v1/cards", schemas.IssueCards, {"batch_ref": "B", "cards": []}, False),
        ("/api/v1/cards", schemas.IssueCards, {"batch_ref": "B", "cards": [{"product": "x", "face_value": -1,
                                                                            "currency": "CNY"}]}, False),
        ("/api/v1/stores", schemas.CreateStore, {"store_id": "S1", "name": "n", "region": "r"}, True),
        ("/api/v1/stores", schemas.CreateStore, {"store_id": "S 1", "name": "n", "region": "r"}, False),
        ("/api/v1/stores", schemas.CreateStore, {"store_id": "S1", "name": "n"}, False),
        ("/api/v1/cards/{number}/pickups", schemas.PickupRequest,
         {"mode": "store", "store_id": "S1", "redemption_code": "AAAA-BBBB-CCCC"}, True),
        ("/api/v1/cards/{number}/pickups", schemas.PickupRequest,
         {"mode": "delivery", "redemption_code": "AAAA-BBBB-CCCC", "store_id": "S1"}, False),
        ("/api/v1/cards/{number}/redeem", schemas.Redeem, {"redemption_code": 12}, False),
    ],
)
def test_document_and_validation_agree(document, path, model, body, valid):
    import json

    from ledger_service.errors import ValidationFailed

    assert _validator(document, path, "post").is_valid(body) is valid
    if valid:
        schemas.parse(model, json.dumps(body).encode())
    else:
        with pytest.raises(ValidationFailed):
            schemas.parse(model, json.dumps(body).encode())
