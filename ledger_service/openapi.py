"""The OpenAPI 3.1 document of ``/api/v1``, assembled from the routes themselves.

Each view under ``/api/v1`` carries an :class:`Operation` (attached with the
:func:`operation` decorator, by whichever blueprint owns the route); the document walks
the application's URL map, so a route without a description, or a description without a
route, cannot go unnoticed (``tests/ledger_service/test_openapi.py`` checks both ways).
Request and response schemas come from :mod:`ledger_service.schemas`, the same models
that validate requests.

    >>> from ledger_service.openapi import openapi_path
    >>> openapi_path("/api/v1/cards/<number>/claim")
    '/api/v1/cards/{number}/claim'
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel

from ledger_service import errors, schemas
from ledger_service.actor import Role
from ledger_service.idempotency import HEADER, KEY_PATTERN
from ledger_service.problems import PROBLEM_JSON

PREFIX = "/api/v1"
_REF = "#/components/schemas/{model}"
_RULE_ARG = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}
_CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "path": {"type": "string"},
}


@dataclass(frozen=True)
class Param:
    """A path parameter: what it is, and an annotated type from :mod:`ledger_service.schemas`
    saying which values the route takes. The default is what every route takes:
    ``ledger_service.endpoint.check_path`` refuses control characters and values over
    :data:`~ledger_service.schemas.PATH_LIMIT` characters, and a ``/`` is another route.
    """

    description: str
    schema: Any = schemas.PathText


@dataclass(frozen=True)
class Operation:
    """What the document says about one route.

    ``roles`` lists the token roles allowed (empty: public, no token); ``request`` and
    ``response`` are models from :mod:`ledger_service.schemas` (or None); ``errors`` are
    the stable codes the route can answer with, besides the ones every route shares;
    ``parameters`` describes the route's path parameters by name; ``query`` and
    ``headers`` its query and header parameters (name → OpenAPI parameter fields).
    """

    summary: str
    description: str = ""
    tags: tuple[str, ...] = ()
    roles: tuple[Role, ...] = ()
    request: Any = None
    response: Any = None
    status: int = 200
    errors: tuple[str, ...] = ()
    idempotent: bool = False
    content_type: str = "application/json"
    parameters: dict[str, Param] = field(default_factory=dict)
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


F = TypeVar("F", bound=Callable[..., Any])


def operation(spec: Operation) -> Callable[[F], F]:
    """Attach ``spec`` to a view function so that the document describes its route."""

    def attach(view: F) -> F:
        # Functions take attributes; mypy does not model that, hence the one ignore.
        view.openapi = spec  # type: ignore[attr-defined]
        return view

    return attach


def openapi_path(rule: str) -> str:
    """A werkzeug rule (``/cards/<number>``) as an OpenAPI path (``/cards/{number}``)."""
    return _RULE_ARG.sub(lambda m: "{" + m["name"] + "}", rule)


def api_routes(app: Flask) -> Iterable[tuple[str, str, str]]:
    """Every (OpenAPI path, lower-case method, endpoint) registered under ``/api/v1``."""
    for rule in app.url_map.iter_rules():
        if rule.rule != PREFIX and not rule.rule.startswith(PREFIX + "/"):
            continue
        for method in sorted((rule.methods or set()) - _IGNORED_METHODS):
            yield openapi_path(rule.rule), method.lower(), rule.endpoint


def _codes() -> dict[str, type[errors.LedgerError]]:
    return {
        cls.code: cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.LedgerError) and cls is not errors.LedgerError
    }


class _Builder:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def schema(self, model: Any) -> dict[str, Any]:
        doc = schemas.json_schema(model, _REF)
        self.components.update(doc.pop("$defs", {}))
        if isinstance(model, type) and issubclass(model, BaseModel):
            self.components[model.__name__] = doc
            return {"$ref": _REF.format(model=model.__name__)}
        return doc

    def operation(self, spec: Operation, endpoint: str, rule: str) -> dict[str, Any]:
        op: dict[str, Any] = {"operationId": endpoint, "summary": spec.summary}
        description = spec.description
        if spec.roles:
            description = (description + "\n\n" if description else "") + (
                "Roles: " + ", ".join(spec.roles) + "."
            )
            op["security"] = [{"bearerAuth": []}]
            op["x-roles"] = list(spec.roles)
        else:
            op["security"] = []
        if description:
            op["description"] = description
        if spec.tags:
            op["tags"] = list(spec.tags)
        params = [self.path_parameter(spec, m) for m in _RULE_ARG.finditer(rule)]
        params += [{"name": name, "in": "query", **extra} for name, extra in spec.query.items()]
        params += [{"name": name, "in": "header", **extra} for name, extra in spec.headers.items()]
        if spec.idempotent:
            params.append(
                {
                    "name": HEADER,
                    "in": "header",
                    "required": True,
                    "description": "Unique per command: a retry with the same key and body "
                    "gets the first answer replayed; another body gets IDEMPOTENCY_MISMATCH.",
                    "schema": {"type": "string", "pattern": KEY_PATTERN},
                }
            )
        if params:
            op["parameters"] = params
        if spec.request is not None:
            op["requestBody"] = {
                "required": not (
                    isinstance(spec.request, type) and issubclass(spec.request, schemas.Empty)
                ),
                "content": {"application/json": {"schema": self.schema(spec.request)}},
            }
        ok: dict[str, Any] = {"description": spec.summary}
        if spec.response is not None:
            ok["content"] = {spec.content_type: {"schema": self.schema(spec.response)}}
        op["responses"] = {str(spec.status): ok, **self.problems(spec)}
        return op

    def path_parameter(self, spec: Operation, arg: re.Match[str]) -> dict[str, Any]:
        param = spec.parameters.get(arg["name"])
        if arg["converter"] in _CONVERTER_SCHEMAS:
            schema = _CONVERTER_SCHEMAS[arg["converter"]]
        else:
            schema = self.schema(param.schema if param else schemas.PathText)
        return {
            "name": arg["name"],
            "in": "path",
            "required": True,
            "description": param.description if param else "",
            "schema": schema,
        }

    def problems(self, spec: Operation) -> dict[str, Any]:
        codes = list(spec.errors)
        if spec.roles:
            codes += ["UNAUTHORIZED", "FORBIDDEN", "RATE_LIMITED"]
        if spec.request is not None:
            codes += ["VALIDATION_FAILED", "PAYLOAD_TOO_LARGE"]
        if spec.idempotent:
            codes += ["IDEMPOTENCY_MISMATCH", "IDEMPOTENCY_IN_PROGRESS"]
            if "VALIDATION_FAILED" not in codes:
                codes.append("VALIDATION_FAILED")
        known = _codes()
        by_status: dict[int, list[str]] = {}
        for code in dict.fromkeys(codes):
            by_status.setdefault(known[code].status, []).append(code)
        problem = self.schema(schemas.Problem)
        return {
            str(status): {
                "description": "Problem codes: " + ", ".join(names),
                "content": {PROBLEM_JSON: {"schema": problem}},
            }
            for status, names in sorted(by_status.items())
        }


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every described route under ``/api/v1`` in ``app``."""
    builder = _Builder()
    paths: dict[str, dict[str, Any]] = {}
    for path, method, endpoint in api_routes(app):
        spec = getattr(app.view_functions[endpoint], "openapi", None)
        if spec is None:
            continue
        rule = next(r.rule for r in app.url_map.iter_rules(endpoint))
        paths.setdefault(path, {})[method] = builder.operation(spec, endpoint, rule)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CardTrail API",
            "version": "1",
            "description": "Merchant commands, the public card view and the auditors' "
            "proofs of the CardTrail ledger. Errors are application/problem+json with a "
            "stable `code`; every POST needs an Idempotency-Key header.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(builder.components.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `cardtrail token create` (ct_<id>_<secret>).",
                }
            },
        },
    }
