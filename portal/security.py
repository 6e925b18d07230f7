"""Response headers every page carries, the hosts requests may name, and the per-client
rate limits of the public pages.

The Content-Security-Policy allows scripts and styles only from this origin (no inline
code: the verifier reads its inputs from data attributes), and lets the page's JavaScript
talk to this server, the configured chain RPC endpoint and any HTTPS endpoint a visitor
prefers (plus any local port when the configured node is local, for developers).

    >>> connect_sources("http://127.0.0.1:8545")
    "'self' http://127.0.0.1:8545 https: http://127.0.0.1:* http://localhost:*"
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from ledger_service.ratelimit import client_key
from ledger_service.runtime import runtime, runtime_of

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def connect_sources(rpc_url: str) -> str:
    """The CSP ``connect-src`` sources for a deployment whose browsers ask ``rpc_url``."""
    sources = ["'self'"]
    origin = _origin(rpc_url)
    if origin:
        sources.append(origin)
    sources.append("https:")
    if urlsplit(rpc_url).hostname in _LOCAL_HOSTS:
        sources += ["http://127.0.0.1:*", "http://localhost:*"]
    return " ".join(dict.fromkeys(sources))


def content_security_policy(rpc_url: str) -> str:
    """The page's Content-Security-Policy."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect_sources(rpc_url)}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy", content_security_policy(runtime().settings.browser_rpc_url)
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # Card numbers are in page URLs: never hand them to the RPC endpoint or other sites.
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    """Add the security headers to every response of ``app``, and answer 400 to requests
    that name another host than the configured base URL's (Flask's ``TRUSTED_HOSTS``)."""
    if app.config.get("TRUSTED_HOSTS") is None:
        app.config["TRUSTED_HOSTS"] = runtime_of(app).settings.trusted_hosts
    app.after_request(_set_headers)


def client_address() -> str:
    """The client's address as this server sees it (a proxy in front must set it right)."""
    return request.remote_addr or "unknown"


__all__ = ["client_address", "client_key", "init_app", "limit_public"]


def limit_public(card_number: str | None = None) -> None:
    """Count one public lookup; past a limit, raise
    :class:`~ledger_service.errors.RateLimited` (with ``retry_after``).

    Every budget belongs to one client (:func:`client_key`): its lookups overall and, for
    a card, its lookups of that card. None is shared between clients, so nobody can use
    up the lookups of a card that someone else holds.
    """
    limits = runtime().limits
    address = client_key(client_address())
    per_ip = limits.public_per_ip
    if per_ip is not None:
        per_ip.hit("ip:" + address)
    per_client_card = limits.public_per_client_card
    if card_number is not None and per_client_card is not None:
        per_client_card.hit(f"card:{address}:{card_number}")
