"""Errors at the HTTP edge as ``application/problem+json`` (RFC 9457).

Every refusal carries ``{"type", "title", "status", "code", "detail"}`` and, where it
helps, extra members such as ``errors`` (validation) or ``retry_after``. The handlers are
app-wide: a :class:`~ledger_service.errors.LedgerError`, a werkzeug HTTP error (unknown
route, wrong method, body too large, malformed body) or an unexpected exception never
reaches a client as an HTML page or a stack trace under ``/api/``.

The ``code`` is stable; the ``title`` (and the fixed sentences of this module's own
details) are said in the client's language, Chinese first (Flask-Babel, installed by the
assembly; the locale comes from ``Accept-Language`` or the language cookie). Translating
here, at the HTTP edge, keeps the ledger's errors plain data with English message ids.

    >>> from ledger_service.problems import problem_document
    >>> from flask import Flask
    >>> from flask_babel import Babel
    >>> app = Flask("doc")
    >>> _ = Babel(app)
    >>> with app.test_request_context():
    ...     problem_document(404, "CARD_NOT_FOUND", "Card not found", "no such card")["type"]
    'urn:cardtrail:problem:card-not-found'
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from ledger_service.errors import (
    N_,
    Forbidden,
    LedgerError,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)

PROBLEM_JSON = "application/problem+json"

# Werkzeug's errors that have a ledger twin answer with the twin's code and title.
_TWINS: dict[int, type[LedgerError]] = {
    401: Unauthorized,
    403: Forbidden,
    413: PayloadTooLarge,
    429: RateLimited,
}

# Werkzeug's own errors, titled and explained in our words (so in the catalogues).
_HTTP_TITLES = {
    400: (N_("Bad request"), N_("The request could not be understood.")),
    404: (N_("Not found"), N_("Nothing is served at this address.")),
    405: (N_("Method not allowed"), N_("This address does not accept this method.")),
    406: (N_("Not acceptable"), N_("No answer in a form the client accepts.")),
    415: (N_("Unsupported media type"), N_("The request body's media type is not accepted.")),
    500: (N_("Internal server error"), N_("The request could not be completed.")),
}


def problem_type(code: str) -> str:
    """The problem ``type`` URI of a stable code."""
    return "urn:cardtrail:problem:" + code.lower().replace("_", "-")


def problem_document(
    status: int, code: str, title: str, detail: str, **extra: Any
) -> dict[str, Any]:
    """The JSON members of a problem; ``extra`` members never replace the standard ones.

    ``title`` is an English message id, said here in the request's language."""
    doc: dict[str, Any] = {
        "type": problem_type(code),
        "title": gettext(title),
        "status": status,
        "code": code,
        "detail": detail,
    }
    doc.update((k, v) for k, v in extra.items() if v is not None and k not in doc)
    return doc


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A complete ``application/problem+json`` response."""
    body = json.dumps(problem_document(status, code, title, detail, **extra), ensure_ascii=False)
    response = Response(body, status=status, mimetype=PROBLEM_JSON, headers=headers)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cardtrail"'
    retry_after = extra.get("retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def from_ledger_error(error: LedgerError) -> Response:
    """The problem response of a refusal raised by the ledger, the API or the auth layer."""
    return problem_response(error.status, error.code, error.title, error.detail, **error.extra)


def _wants_problem() -> bool:
    # Pages outside /api/ keep werkzeug's own HTML for browsers; API clients and anything
    # that asks for JSON get a problem document.
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best != "text/html"


def _handle_http(error: HTTPException) -> Response | HTTPException:
    if not _wants_problem():
        return error
    status = error.code or 500
    twin = _TWINS.get(status)
    code = twin.code if twin else error.name.upper().replace(" ", "_")
    title, sentence = _HTTP_TITLES.get(status, (error.name, None))
    title = twin.title if twin else title
    detail = error.description or error.name
    if sentence is not None and detail == type(error).description:
        # Werkzeug's stock sentence: ours says the same in the client's language.
        detail = gettext(sentence)
    headers = {}
    if status == 405 and error.get_headers():
        headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    return problem_response(status, code, title, detail, headers=headers)


def _handle_unexpected(error: Exception) -> Response:
    # Logged in full for operators; the client learns only that it was not its fault.
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    title, sentence = _HTTP_TITLES[500]
    return problem_response(500, "INTERNAL_ERROR", title, gettext(sentence))


def register(app: Flask) -> None:
    """Install the problem+json handlers on ``app``."""
    app.register_error_handler(LedgerError, from_ledger_error)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
