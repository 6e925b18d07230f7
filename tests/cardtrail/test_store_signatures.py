"""CARDTRAIL_REQUIRE_STORE_SIGNATURES holds on every path that acts for a store.

The review found that whichever of the API and the console first built the shared Ledger
decided whether signatures were required: a store signed in to the console redeemed
unsigned, and after that so did the API. Both orders are driven here.
"""

from __future__ import annotations

import pytest
from apptools import EnglishClient

from anchoring.db import read_transaction
from cardtrail.app import create_app
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.config import Settings
from ledger_service.runtime import runtime_of
from ledger_service.service import Ledger
from portal.console import CSRF_KEY

HQ = Actor("hq", "tok_signatures_test")


@pytest.fixture
def strict(tmp_path, db_url):
    """An app whose deployment requires signed store commands, with store S1 and a card."""
    environ = {"DATABASE_URL": db_url, "CARDTRAIL_REQUIRE_STORE_SIGNATURES": "1"}
    app = create_app(Settings.from_env(tmp_path / "data", environ=environ), {"TESTING": True})
    app.test_client_class = EnglishClient  # the assertions read the console's English
    built = runtime_of(app)
    setup = Ledger(built.engine, built.secret_key)
    setup.create_store(HQ, "S1", "Store 1", "east")
    yield app
    built.engine.dispose()


def _card(app) -> tuple[str, str]:
    built = runtime_of(app)
    [card] = Ledger(built.engine, built.secret_key).issue_cards(
        HQ, "B", [{"product": "Tea"}], active=True
    )["cards"]
    return card["card_number"], card["redemption_code"]


def _state(app, number: str) -> str:
    built = runtime_of(app)
    return Ledger(built.engine, built.secret_key).get_card(HQ, number)["state"]


def _store_token(app) -> str:
    built = runtime_of(app)
    return create_token(built.engine, built.secret_key, "store", "S1").token


def _csrf(client) -> str:
    with client.session_transaction() as session:
        token: str = session[CSRF_KEY]
        return token


def _signed_in_store(app):
    client = app.test_client()
    client.get("/console/login")
    login = {"token": _store_token(app), "csrf_token": _csrf(client)}
    assert client.post("/console/login", data=login).status_code == 303
    return client


def _console_redeem(app, number: str, code: str):
    client = _signed_in_store(app)
    form = {"number": number, "code": code, "csrf_token": _csrf(client)}
    return client.post("/console/counter/redeem", data=form)


def _api_redeem(app, number: str, code: str):
    return app.test_client().post(
        f"/api/v1/cards/{number}/redeem",
        json={"redemption_code": code},
        headers={"Authorization": f"Bearer {_store_token(app)}", "Idempotency-Key": "k1"},
    )


def _assert_console_refused(app, number: str, code: str) -> None:
    response = _console_redeem(app, number, code)
    assert response.status_code == 403
    assert "signed by a registered store device" in response.get_data(as_text=True)
    assert _state(app, number) != "REDEEMED"


def _assert_api_refused(app, number: str, code: str) -> None:
    response = _api_redeem(app, number, code)
    assert response.status_code == 403 and response.json["code"] == "SIGNATURE_REQUIRED"
    assert _state(app, number) != "REDEEMED"


def test_console_first_then_api_both_refuse_unsigned_store_redemptions(strict):
    number, code = _card(strict)
    _assert_console_refused(strict, number, code)
    _assert_api_refused(strict, number, code)


def test_api_first_then_console_both_refuse_unsigned_store_redemptions(strict):
    number, code = _card(strict)
    _assert_api_refused(strict, number, code)
    _assert_console_refused(strict, number, code)


def test_the_counter_says_up_front_that_signatures_are_required(strict):
    page = _signed_in_store(strict).get("/console/counter").get_data(as_text=True)
    assert 'id="signatures-required"' in page


def test_a_refused_console_redemption_spends_no_code_attempt(strict):
    number, _ = _card(strict)
    before = _state(strict, number)
    _console_redeem(strict, number, "WRONG-CODE-0000")
    with read_transaction(runtime_of(strict).engine) as conn:
        from ledger_service.schema import code_failures

        assert conn.execute(code_failures.select()).first() is None
    assert _state(strict, number) == before
