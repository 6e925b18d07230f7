"""Fuzz the merchant API from its own OpenAPI document, one example per operation and case.

The campaign is ``scripts/fuzz_api.py``: every operation, valid and schema-breaking
requests, as no token, headquarters, store staff and auditor, on generated paths and on a
real card and pickup. No 5xx, every answer as documented, nothing written to the log by a
refused request, and no valid request refused for its shape: what the document states is
what the server checks, so schemathesis finds no operation that "mostly rejected
generated data due to validation errors". In the suite it runs on SQLite with one example
per case (bounded time); ``make fuzz`` runs it longer, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from scripts import fuzz_api


@pytest.fixture
def sqlite_app(tmp_path, sqlite_url):
    from cardtrail.app import create_app
    from ledger_service.config import Settings

    application = create_app(
        Settings.from_env(tmp_path / "data", environ={"DATABASE_URL": sqlite_url})
    )
    yield application
    application.extensions["cardtrail"].engine.dispose()


def test_fuzzed_requests_never_fail_the_server_the_document_or_the_log(sqlite_app, capsys):
    report = fuzz_api.campaign(fuzz_api.prepare(sqlite_app), examples=1, seed=0)
    with capsys.disabled():
        print()
        report.print()
    assert report.requests > 150, "the campaign barely ran"
    statuses = {status for (_, status) in report.statuses}
    assert {200, 401, 403, 422} <= statuses, "requests never got past the door"
    assert not report.failures, "\n".join(report.failures)
    assert not report.shape_refusals, "\n".join(report.shape_refusals)
    assert not report.mostly_rejected()


class _Refusal:
    """A 422 problem answer, as far as ``fuzz_api`` reads one."""

    status_code = 422

    def __init__(self, loc: str, message: str) -> None:
        self._problem = {
            "code": "VALIDATION_FAILED",
            "detail": "no",
            "errors": [{"loc": loc, "message": message}],
        }

    def json(self):
        return self._problem


class _Case:
    path_parameters, query, body = {}, {}, {"name": "x"}


def test_a_valid_request_refused_for_its_shape_is_reported():
    report = fuzz_api.Report()
    fuzz_api._record_valid(report, "POST /api/v1/stores", _Case, _Refusal("body.name", "long"))
    assert len(report.shape_refusals) == 1
    assert report.mostly_rejected() == ["POST /api/v1/stores"]


def test_a_refused_relation_between_parameters_is_no_shape_refusal():
    report = fuzz_api.Report()
    label = "GET /api/v1/log/proofs/consistency"
    fuzz_api._record_valid(report, label, _Case, _Refusal("query.first", "≤ second"))
    assert report.shape_refusals == []
    assert report.mostly_rejected() == [label], "schemathesis's rule still counts it"
