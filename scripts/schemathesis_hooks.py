"""Schemathesis command-line hooks for CardTrail: ``SCHEMATHESIS_HOOKS=schemathesis_hooks``.

Run from the repository with ``scripts`` on the path, against a running server::

    PYTHONPATH=scripts SCHEMATHESIS_HOOKS=schemathesis_hooks .venv/bin/st run \\
        http://127.0.0.1:8000/api/v1/openapi.json -H "Authorization: Bearer $TOKEN"

Importing :mod:`fuzz_api` registers a generator for the document's custom format (a card
number's check character). Every valid
``Idempotency-Key`` the run generates is replaced by a fresh one: the document says a key
is unique per command, which no schema can state, and generated keys repeat (``0``, ``00``)
across different bodies, which the server rightly refuses with IDEMPOTENCY_MISMATCH.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import fuzz_api  # noqa: F401  (registers the custom format)
import schemathesis

from ledger_service import idempotency

_KEY = re.compile(idempotency.KEY_PATTERN)


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Give a request carrying a valid idempotency key a key of its own."""
    key = (case.headers or {}).get(idempotency.HEADER)
    if isinstance(key, str) and _KEY.fullmatch(key):
        case.headers[idempotency.HEADER] = f"st-{uuid.uuid4()}"
