"""Fuzz the merchant API from its own OpenAPI document, one example per operation and case.

The campaign is ``scripts/fuzz_api.py``: every operation, valid and schema-breaking
requests, as no token, headquarters, store staff and auditor, on generated paths and on a
real card and pickup. No 5xx, every answer as documented, and nothing written to the log
by a refused request. In the suite it runs on SQLite with one example per case (bounded
time); ``make fuzz`` runs it longer, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from scripts import fuzz_api


@pytest.fixture
def sqlite_app(tmp_path, sqlite_url):
    from cardtrail.app import create_app
    from ledger_service.config import Settings

    application = create_app(Settings.from_env(tmp_path / "data", environ={"DATABASE_URL": sqlite_url}))
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
