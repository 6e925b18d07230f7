"""The Ledger fixtures (clock, ledger, stores) for the tests of ``ledger_service.service``.

They live in ``tests/ledger_service/ledger_fixtures.py``, shared with the import and device
tests; the HTTP API's fixtures come from ``tests/ledger_service/conftest.py``.
"""

from __future__ import annotations

import pytest

# Test modules elsewhere load ledger_fixtures as a plugin, which pytest rewrites, so this
# import must be rewritten too; ledger_helpers' asserts then explain their failures.
pytest.register_assert_rewrite("ledger_fixtures", "ledger_helpers")

from ledger_fixtures import clock, ledger, stores  # noqa: E402 (after the rewrite hook)

__all__ = ["clock", "ledger", "stores"]
