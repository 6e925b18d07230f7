"""The OpenAPI document: equal to the routes, and generated from the schemas that validate."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core import NOT_SET

from ledger_service import devices, errors, schemas
from ledger_service.domain import cards as card_rules
from ledger_service.domain.numbers import CardNumberError, normalize_card_number
from ledger_service.endpoint import check_path
from ledger_service.openapi import api_routes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import fuzz_api

ISSUE_CODES = [
    "CARD_NOT_FOUND",
    "CARD_ALREADY_USED",
    "CARD_VOIDED",
    "CARD_EXPIRED",
    "CARD_BLOCKED",
    "INVALID_TRANSITION",
    "STORE_NOT_ALLOWED",
    "INVALID_CODE",
    "CODE_LOCKED",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "VALIDATION_FAILED",
    "IDEMPOTENCY_MISMATCH",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
]


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
    codes = {
        cls.code: cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.LedgerError)
    }
    for code in ISSUE_CODES:
        assert documented.get(code) == {str(codes[code].status)}, code


def _validator(document, path, method):
    schema = operations(document)[(path, method)]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    return jsonschema_rs.validator_for({**schema, "components": document["components"]})


@pytest.mark.parametrize(
    ("path", "model", "body", "valid"),
    [
        (
            "/api/v1/cards",
            schemas.IssueCards,
            {"batch_ref": "B", "cards": [{"product": "x"}]},
            True,
        ),
        (
            "/api/v1/cards",
            schemas.IssueCards,
            {
                "batch_ref": "B",
                "cards": [
                    {
                        "product": "x",
                        "face_value": 100000,
                        "currency": "CNY",
                        "allowed_stores": ["S1"],
                        "expires_at": "2027-12-31T23:59:59Z",
                    }
                ],
            },
            True,
        ),
        (
            "/api/v1/cards",
            schemas.IssueCards,
            {"batch_ref": "B", "cards": [{"product": "x", "extra": 1}]},
            False,
        ),
        ("/api/v1/cards", schemas.IssueCards, {"batch_ref": "B", "cards": []}, False),
        (
            "/api/v1/cards",
            schemas.IssueCards,
            {"batch_ref": "B", "cards": [{"product": "x", "face_value": -1, "currency": "CNY"}]},
            False,
        ),
        (
            "/api/v1/stores",
            schemas.CreateStore,
            {"store_id": "S1", "name": "n", "region": "r"},
            True,
        ),
        (
            "/api/v1/stores",
            schemas.CreateStore,
            {"store_id": "S 1", "name": "n", "region": "r"},
            False,
        ),
        ("/api/v1/stores", schemas.CreateStore, {"store_id": "S1", "name": "n"}, False),
        (
            "/api/v1/cards/{number}/pickups",
            schemas.PickupRequest,
            {"mode": "store", "store_id": "S1", "redemption_code": "AAAA-BBBB-CCCC"},
            True,
        ),
        (
            "/api/v1/cards/{number}/pickups",
            schemas.PickupRequest,
            {"mode": "delivery", "redemption_code": "AAAA-BBBB-CCCC", "store_id": "S1"},
            False,
        ),
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


# --- the document states what the server checks ------------------------------------------

CHECKED = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


def _params(document):
    for (path, method), op in operations(document).items():
        for param in op.get("parameters", []):
            if param["in"] in ("path", "query"):
                yield f"{method.upper()} {path} {param['name']}", param


def test_every_path_and_query_parameter_states_its_bounds(document):
    for where, param in _params(document):
        schema = param["schema"]
        bounded = {"pattern", "maximum", "enum"} & set(schema)
        assert bounded, f"{where} says only {schema}"


def test_card_number_parameters_carry_the_card_number_pattern_and_format(document):
    found = [p for where, p in _params(document) if p["name"] == "number"]
    # The merchant and public routes, the lookup counter, and 6 of the customer's.
    assert len(found) == 22
    for param in found:
        assert param["schema"]["pattern"] == schemas.PATH_CARD_NUMBER_PATTERN
        assert param["schema"]["format"] == schemas.CARD_NUMBER_FORMAT


def test_store_id_pattern_is_the_domain_rule_anchored():
    assert schemas.STORE_ID_PATTERN == f"^{card_rules.STORE_ID.pattern}$"


@CHECKED
@given(st.from_regex(schemas.CARD_NUMBER_PATTERN, fullmatch=True))
def test_a_card_number_of_the_documented_shape_fails_at_most_its_check_character(text):
    try:
        normalize_card_number(text)
    except CardNumberError as exc:
        assert "check character" in str(exc)


@CHECKED
@given(st.from_regex(schemas.PATH_CARD_NUMBER_PATTERN, fullmatch=True))
def test_a_card_number_of_the_documented_path_shape_passes_the_path_check(text):
    assert re.fullmatch(schemas.CARD_NUMBER_PATTERN, text)
    check_path({"number": text})


@CHECKED
@given(st.text(st.characters(codec="ascii"), max_size=40))
def test_an_ascii_text_outside_the_card_number_pattern_is_refused(text):
    if not re.fullmatch(schemas.CARD_NUMBER_PATTERN, text):
        with pytest.raises(CardNumberError):
            normalize_card_number(text)


@CHECKED
@given(fuzz_api.card_numbers())
def test_generated_card_numbers_match_the_pattern_and_pass_the_check(text):
    assert re.fullmatch(schemas.CARD_NUMBER_PATTERN, text)
    normalize_card_number(text)


@CHECKED
@given(st.from_regex(schemas.ADDRESS_PATTERN, fullmatch=True))
def test_an_address_of_the_documented_shape_is_taken(address):
    devices.normalize_address(address)


@CHECKED
@given(st.text(st.characters(codec="ascii"), max_size=44))
def test_an_ascii_text_outside_the_address_pattern_is_refused(text):
    if not re.fullmatch(schemas.ADDRESS_PATTERN, text):
        with pytest.raises(errors.ValidationFailed):
            devices.normalize_address(text)


@CHECKED
@given(st.text(max_size=12))
def test_visible_text_is_exactly_what_the_ledger_keeps(text):
    printable = re.fullmatch(schemas.PRINTABLE_PATTERN, text) is not None
    visible = re.fullmatch(schemas.VISIBLE_PATTERN, text) is not None
    try:
        card_rules.text(text, "x")
        kept = True
    except ValueError:
        kept = False
    assert visible == (printable and kept)


def test_every_white_space_character_is_below_the_bound_the_pattern_scans():
    spaces = [c for c in map(chr, range(0x110000)) if c.isspace() and c >= " "]
    assert all(re.fullmatch(schemas.VISIBLE_PATTERN, c) is None for c in spaces)
    assert max(map(ord, spaces)) < 0x3001


@CHECKED
@given(st.from_regex(schemas.TIMESTAMP_PATTERN, fullmatch=True))
def test_a_timestamp_of_the_documented_shape_is_read_by_the_ledger(text):
    assert card_rules.timestamp(text, "expires_at") is not None


@pytest.mark.parametrize(
    "text",
    [
        "2027-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2027-04-31T00:00:00Z",
        "2027-01-01T24:00:00Z",
        "2027-01-01T00:00:00z",
        "2027-01-01T00:00:00",
        "0999-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "２０２７-01-01T00:00:00Z",
    ],
)
def test_a_timestamp_the_ledger_cannot_take_is_outside_the_pattern(text):
    assert re.fullmatch(schemas.TIMESTAMP_PATTERN, text) is None


@pytest.mark.parametrize("text", ["2028-02-29T00:00:00Z", "2000-02-29T12:30:00.5+05:30"])
def test_leap_days_are_inside_the_pattern(text):
    assert re.fullmatch(schemas.TIMESTAMP_PATTERN, text)
    card_rules.timestamp(text, "expires_at")


@CHECKED
@given(st.from_regex(schemas.PATH_PATTERN, fullmatch=True).filter(lambda t: len(t) <= 256))
def test_a_path_value_of_the_documented_shape_passes_the_path_check(text):
    check_path({"id": text})


@pytest.mark.parametrize("text", ["x" * (schemas.PATH_LIMIT + 1), "a\x00b", "a\x1fb", "a\x7fb"])
def test_a_path_value_outside_the_documented_bounds_is_refused(text):
    with pytest.raises(errors.ValidationFailed):
        check_path({"id": text})


def test_documented_query_maxima_are_enforced(app, document):
    client = app.test_client()
    for path, names in [
        ("/api/v1/log/proofs/inclusion", ("leaf_index", "tree_size")),
        ("/api/v1/log/proofs/consistency", ("first", "second")),
    ]:
        params = operations(document)[(path, "get")]["parameters"]
        maximum = {p["name"]: p["schema"]["maximum"] for p in params}
        for name in names:
            query = {n: 1 for n in names} | {name: maximum[name] + 1}
            problem = client.get(path, query_string=query).get_json()
            assert problem["code"] == "VALIDATION_FAILED"
            assert problem["errors"][0]["loc"] == f"query.{name}"
            query[name] = maximum[name]
            problem = client.get(path, query_string=query).get_json()
            # At the maximum the number is read; what remains is its relation to the log.
            assert all(
                e["message"] in ("beyond the log", "< tree_size", "≤ second")
                for e in problem["errors"]
            ), problem


def _body_operations(document):
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        operation = result.ok()
        if "requestBody" in operation.definition.raw:
            yield operation


MODELS = {
    "POST /api/v1/stores": schemas.CreateStore,
    "POST /api/v1/cards": schemas.IssueCards,
    "POST /api/v1/cards/{number}/claim": schemas.Claim,
    "POST /api/v1/cards/{number}/transfer": schemas.Transfer,
    "POST /api/v1/cards/{number}/redeem": schemas.Redeem,
    "POST /api/v1/cards/{number}/block": schemas.WithReason,
    "POST /api/v1/cards/{number}/unblock": schemas.WithReason,
    "POST /api/v1/cards/{number}/void": schemas.WithReason,
    "POST /api/v1/cards/{number}/pickups": schemas.PickupRequest,
    "POST /api/v1/pickups/{id}/ready": schemas.PickupStep,
    "POST /api/v1/pickups/{id}/review": schemas.Empty,
    "POST /api/v1/pickups/{id}/ship": schemas.PickupShipment,
    "POST /api/v1/pickups/{id}/complete": schemas.PickupCompletion,
    "POST /api/v1/pickups/{id}/cancel": schemas.Empty,
    "POST /api/v1/pickups/{id}/move": schemas.PickupMove,
    "POST /api/v1/customer/cards/{number}/claim": schemas.CustomerClaim,
    "POST /api/v1/customer/cards/{number}/verify": schemas.CardCode,
    "POST /api/v1/customer/cards/{number}/pickups": schemas.CustomerPickupRequest,
    "POST /api/v1/customer/cards/{number}/pickup": schemas.CardCode,
    "POST /api/v1/customer/cards/{number}/gift": schemas.CardCode,
    "POST /api/v1/customer/cards/{number}/gift/withdraw": schemas.CardCode,
    "POST /api/v1/customer/pickups/{id}/cancel": schemas.CardCode,
    "POST /api/v1/customer/pickups/{id}/move": schemas.CustomerPickupMove,
    "POST /api/v1/customer/gifts/{id}/accept": schemas.GiftAccept,
    "POST /api/v1/stores/{store_id}/keys": schemas.RegisterKey,
    "POST /api/v1/stores/{store_id}/keys/{address}/revoke": schemas.Empty,
    "POST /api/v1/sync": schemas.SyncBatch,
    "POST /api/v1/stores/{store_id}": schemas.UpdateStore,
    "POST /api/v1/stores/{store_id}/stock/{sku}": schemas.SetStock,
    "POST /api/v1/stores/{store_id}/stock/{sku}/adjust": schemas.AdjustStock,
    "POST /api/v1/tokens/{token_id}/name": schemas.TokenName,
    "POST /api/v1/products": schemas.CreateProduct,
    "POST /api/v1/channels": schemas.CreateChannel,
    "POST /api/v1/channels/{channel_id}/allocations": schemas.Allocate,
    "POST /api/v1/cards/{number}/activate": schemas.Activate,
    "POST /api/v1/activations": schemas.ActivateCards,
    "POST /api/v1/cards/{number}/load": schemas.Load,
    "POST /api/v1/cards/{number}/refund": schemas.Refund,
    "POST /api/v1/cards/{number}/adjust": schemas.Adjust,
    "POST /api/v1/cards/{number}/transfer-balance": schemas.TransferBalance,
}


def test_every_request_body_is_checked_by_its_model(document):
    labels = {f"{op.method.upper()} {op.path}" for op in _body_operations(document)}
    assert labels == set(MODELS)


def _verdicts_agree(document, operation, mode):
    label = f"{operation.method.upper()} {operation.path}"
    schema = operation.definition.raw["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def agree(case):
        if case.body is NOT_SET or isinstance(case.body, bytes):
            return  # no body, or not JSON at all: the API tests cover those
        try:
            schemas.parse(MODELS[label], json.dumps(case.body).encode())
            parsed = True
        except errors.ValidationFailed:
            parsed = False
        assert parsed == validator.is_valid(case.body), (label, case.body)

    agree()


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_the_document_and_the_models_agree_on_generated_bodies(document, mode):
    """Bodies drawn from the document, valid and schema-breaking: the document's verdict
    (JSON Schema, formats as annotations) is the model's."""
    for operation in _body_operations(document):
        _verdicts_agree(document, operation, mode)
