"""How a merchant API route runs: authenticate, authorise, validate, de-duplicate, answer.

:func:`command` wraps a POST view in the fixed order that keeps bad input from writing
anything: token and role first, then the ``Idempotency-Key`` header, then the body (size
and schema), and only then the idempotency reservation and the command itself.
:func:`query` does the first two steps for GET views. Both attach the route's
:class:`~ledger_service.openapi.Operation`, so the document is written where the route is.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy.engine import Connection

from ledger_service import auth, idempotency, problems, schemas
from ledger_service.errors import LedgerError, ValidationFailed
from ledger_service.openapi import Operation, operation
from ledger_service.runtime import runtime

JSON = "application/json"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def dumps(document: Any) -> bytes:
    """Response bytes: compact UTF-8 JSON; datetimes as RFC 3339 UTC, bytes as hex."""
    return json.dumps(
        document, ensure_ascii=False, separators=(",", ":"), default=_default
    ).encode()


_PATH_VALUE = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


def check_path(values: dict[str, Any]) -> None:
    """Refuse path parameters no record can have (control characters, absurd length).

    PostgreSQL cannot even compare a text with NUL in it, so this must come first.
    """
    bad = [name for name, value in values.items() if not _PATH_VALUE.fullmatch(str(value))]
    if bad:
        raise ValidationFailed(
            "a path parameter holds control characters or is too long",
            errors=[
                {"loc": f"path.{name}", "message": "1 to 256 printable characters"} for name in bad
            ],
        )


def query(
    bp: Blueprint, rule: str, spec: Operation
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register a GET view ``fn(actor, **path) -> JSON document`` for ``spec.roles``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(fn)
        def view(**path: Any) -> Response:
            actor = auth.require(*spec.roles)
            check_path(path)
            return Response(dumps(fn(actor, **path)), status=spec.status, mimetype=JSON)

        bp.add_url_rule(rule, view_func=operation(spec)(view), methods=["GET"])
        return view

    return register


def command(
    bp: Blueprint,
    rule: str,
    spec: Operation,
    *,
    unit_of_work: Callable[[], AbstractContextManager[Connection]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register a POST view ``fn(actor, body, **path) -> JSON document`` for ``spec.roles``.

    ``body`` is the parsed ``spec.request`` model. Answers — successes and refusals alike
    — are kept under the request's idempotency key and replayed for a retry.

    With ``unit_of_work`` (a single-transaction command), the view is called as
    ``fn(actor, body, within=conn, **path)``: the idempotency reservation, the command
    and its stored answer share that one write transaction and commit once.
    """
    spec = Operation(**{**spec.__dict__, "idempotent": True})

    def register(fn: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(fn)
        def view(**path: Any) -> Response:
            actor = auth.require(*spec.roles)
            check_path(path)
            key = idempotency.check_key(request.headers.get(idempotency.HEADER))
            raw = request.get_data(cache=False)
            body = schemas.parse(spec.request, raw)

            def answer(**within: Any) -> tuple[int, bytes]:
                try:
                    return spec.status, dumps(fn(actor, body, **within, **path))
                except LedgerError as exc:
                    doc = problems.problem_document(
                        exc.status, exc.code, exc.title, exc.detail, **exc.extra
                    )
                    return exc.status, dumps(doc)

            request_hash = runtime().idempotency.fingerprint(request.method, request.path, raw)
            token = auth.current_token() or ""
            if unit_of_work is None:
                outcome = runtime().idempotency.run(actor.id, token, key, request_hash, answer)
            else:
                outcome = runtime().idempotency.run_in(
                    actor.id,
                    token,
                    key,
                    request_hash,
                    unit_of_work,
                    lambda conn: answer(within=conn),
                )
            mimetype = JSON if outcome.status < 400 else problems.PROBLEM_JSON
            response = Response(outcome.body, status=outcome.status, mimetype=mimetype)
            if outcome.status >= 400:
                retry_after = json.loads(outcome.body).get("retry_after")
                if retry_after is not None:
                    response.headers["Retry-After"] = str(retry_after)
            if outcome.replayed:
                response.headers["Idempotent-Replayed"] = "true"
            return response

        bp.add_url_rule(rule, view_func=operation(spec)(view), methods=["POST"])
        return view

    return register
