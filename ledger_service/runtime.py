"""The services a running CardTrail app holds, built once by the assembly and read by views.

The app factory (:func:`cardtrail.app.create_app`) builds one :class:`Runtime` from the
settings and stores it on the Flask app; blueprints in ``ledger_service`` and ``portal``
only read it through :func:`runtime`. Nothing here builds anything lazily, so no request
can decide how a service is configured: the settings alone do.

    >>> from ledger_service.ratelimit import CounterStore
    >>> from ledger_service.runtime import RateLimits, limiter
    >>> store = CounterStore.from_uri("memory://")
    >>> limiter("api_per_token", None, store) is None
    True
    >>> limiter("api_per_token", (10, 1.0), store).limit
    10
    >>> RateLimits().api_per_token is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from ledger_service.config import Settings
from ledger_service.idempotency import IdempotencyStore
from ledger_service.ratelimit import CounterStore, RateLimiter
from ledger_service.service import Ledger

EXTENSION = "cardtrail"

DEFAULT_API_LIMIT = (1000, 10.0)
"""Requests per API token per window (seconds); app config ``API_RATE_LIMIT`` (None: off)."""

DEFAULT_PUBLIC_IP_LIMIT = (60, 60.0)
"""Public lookups (pages, card JSON, bundles) per client address per window (seconds);
app config ``PUBLIC_RATE_LIMIT_PER_IP`` (None: off)."""

DEFAULT_PUBLIC_CLIENT_CARD_LIMIT = (30, 60.0)
"""Public lookups of one card number by one client address per window (seconds);
app config ``PUBLIC_RATE_LIMIT_PER_CLIENT_CARD`` (None: off). Never counted across clients:
a budget all clients share would let strangers spend it and lock the card's buyer out."""

DEFAULT_CUSTOMER_CLIENT_LIMIT = (30, 60.0)
"""Customer commands (claim, code check, pickups, gifts) per client address per window
(seconds); app config ``CUSTOMER_RATE_LIMIT_PER_CLIENT`` (None: off)."""

DEFAULT_CUSTOMER_CARD_LIMIT = (10, 60.0)
"""Customer commands on one card (or pickup, or gift) from all clients together per window
(seconds); app config ``CUSTOMER_RATE_LIMIT_PER_CARD`` (None: off). Shared on purpose,
like the code lockout it sits in front of: guesses spread over many addresses still meet
one budget."""


def limiter(
    name: str, setting: tuple[int, float] | None, store: CounterStore
) -> RateLimiter | None:
    """The limiter ``name`` for ``(count, window seconds)`` counting in ``store``, or
    ``None`` when the limit is off."""
    if setting is None:
        return None
    count, window = setting
    return RateLimiter(name, int(count), float(window), store)


def _memory_store() -> CounterStore:
    return CounterStore.from_uri("memory://")


@dataclass(frozen=True)
class RateLimits:
    """Every rate limiter of the app, counting in one store; ``None`` where a limit is off."""

    api_per_token: RateLimiter | None = None
    public_per_ip: RateLimiter | None = None
    public_per_client_card: RateLimiter | None = None
    customer_per_client: RateLimiter | None = None
    customer_per_card: RateLimiter | None = None
    store: CounterStore = field(default_factory=_memory_store)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], store: CounterStore) -> RateLimits:
        """The limits an app's config asks for (each key absent: its documented default),
        counted in ``store`` (CARDTRAIL_RATE_LIMIT_STORAGE)."""
        api = config.get("API_RATE_LIMIT", DEFAULT_API_LIMIT)
        per_ip = config.get("PUBLIC_RATE_LIMIT_PER_IP", DEFAULT_PUBLIC_IP_LIMIT)
        per_card = config.get("PUBLIC_RATE_LIMIT_PER_CLIENT_CARD", DEFAULT_PUBLIC_CLIENT_CARD_LIMIT)
        return cls(
            api_per_token=limiter("api_per_token", api, store),
            public_per_ip=limiter("public_per_ip", per_ip, store),
            public_per_client_card=limiter("public_per_client_card", per_card, store),
            customer_per_client=limiter(
                "customer_per_client",
                config.get("CUSTOMER_RATE_LIMIT_PER_CLIENT", DEFAULT_CUSTOMER_CLIENT_LIMIT),
                store,
            ),
            customer_per_card=limiter(
                "customer_per_card",
                config.get("CUSTOMER_RATE_LIMIT_PER_CARD", DEFAULT_CUSTOMER_CARD_LIMIT),
                store,
            ),
            store=store,
        )


@dataclass(frozen=True)
class Runtime:
    """What every request handler needs, built once per app from the settings."""

    settings: Settings
    engine: Engine
    secret_key: bytes
    ledger: Ledger
    idempotency: IdempotencyStore
    limits: RateLimits


def install(app: Flask, built: Runtime) -> None:
    """Attach ``built`` to ``app``; only the assembly calls this, once per app."""
    if EXTENSION in app.extensions:
        raise RuntimeError("this app already has a CardTrail runtime")
    app.extensions[EXTENSION] = built


def runtime_of(app: Flask) -> Runtime:
    """The :class:`Runtime` of ``app`` (for code that runs outside a request)."""
    found: Runtime = app.extensions[EXTENSION]
    return found


def runtime() -> Runtime:
    """The :class:`Runtime` of the current Flask application."""
    return runtime_of(current_app)


def ledger() -> Ledger:
    """The current application's :class:`Ledger`, configured from its settings."""
    return runtime().ledger
