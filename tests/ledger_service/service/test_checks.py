"""The checks before a transaction: card numbers with typos and roles out of their part."""

from __future__ import annotations

import pytest
from ledger_helpers import AUDITOR, HQ, STORE1, assert_refused_without_writing, issue, log_size

from ledger_service import errors


def test_redeem_with_a_typo_in_the_number_is_refused_before_lookup(ledger):
    number, code = issue(ledger)
    typo = number[:3] + number[4] + number[3] + number[5:]
    if typo == number:
        typo = number[:-1] + ("2" if number[-1] != "2" else "3")
    error = assert_refused_without_writing(
        ledger, errors.InvalidCardNumber, ledger.redeem, HQ, typo, code
    )
    assert "typo" in error.detail or "check character" in error.detail
    assert error.code == "INVALID_CARD_NUMBER"


FORBIDDEN = {
    "auditor redeems": lambda lg, n, c: lg.redeem(AUDITOR, n, c),
    "auditor issues": lambda lg, n, c: lg.issue_cards(AUDITOR, "B", [{"product": "x"}]),
    "store issues": lambda lg, n, c: lg.issue_cards(STORE1, "B", [{"product": "x"}]),
    "store claims": lambda lg, n, c: lg.claim(STORE1, n, "h"),
    "store voids": lambda lg, n, c: lg.void(STORE1, n),
    "store blocks": lambda lg, n, c: lg.block(STORE1, n),
    "store creates a store": lambda lg, n, c: lg.create_store(STORE1, "S7", "x", "y"),
    "store unlocks a code": lambda lg, n, c: lg.unlock_code(STORE1, n),
    "store reads anomalies": lambda lg, n, c: lg.anomalies(STORE1),
    "auditor expires cards": lambda lg, n, c: lg.expire_due(AUDITOR),
}


def test_roles_may_do_only_their_part(ledger, stores):
    number, code = issue(ledger)
    for name, call in FORBIDDEN.items():
        size = log_size(ledger)
        with pytest.raises(errors.Forbidden):
            call(ledger, number, code)
            pytest.fail(f"{name}: was allowed")
        assert log_size(ledger) == size, name
    assert ledger.get_card(HQ, number)["state"] == "ISSUED"
