"""Cross-origin reads of the public data, so that an independent verifier page hosted
elsewhere can fetch bundles, checkpoints, leaves and the issuer descriptor.

Only the public read routes answer ``Access-Control-Allow-Origin: *``, for GET (and HEAD,
and the preflight), never with credentials: what they serve is public to anyone holding a
card number anyway, and no cookie or token is ever honoured cross-origin. Merchant and
console routes send no CORS header, so browsers keep other sites from reading them.

    >>> is_public_read("/api/v1/public/cards/23456789ABCDEFGH8/bundle")
    True
    >>> is_public_read("/api/v1/cards/23456789ABCDEFGH8")
    False
"""

from __future__ import annotations

from flask import Flask, Response, request

from anchoring.issuer import WELL_KNOWN_PATH

PUBLIC_READ_PREFIXES = ("/api/v1/public/", "/api/v1/log/")
PUBLIC_READ_PATHS = frozenset({"/api/v1/chain", WELL_KNOWN_PATH})
_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_public_read(path: str) -> bool:
    """Whether ``path`` is one of the public read routes other origins may fetch."""
    return path in PUBLIC_READ_PATHS or path.startswith(PUBLIC_READ_PREFIXES)


def _allow_public_reads(response: Response) -> Response:
    if request.method in _METHODS and is_public_read(request.path):
        response.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET"
            response.headers["Access-Control-Max-Age"] = "86400"
        else:
            # Lets the other page read a rate limit's wait and the problem type.
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def init_app(app: Flask) -> None:
    """Answer cross-origin reads of the public routes of ``app``."""
    app.after_request(_allow_public_reads)
