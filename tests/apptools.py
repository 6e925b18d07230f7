"""Helpers for tests that build CardTrail apps."""

from __future__ import annotations

import dataclasses

from ledger_service.runtime import limiter


def set_limits(app, **limits) -> None:
    """Give ``app`` other rate limits, e.g. ``public_per_ip=(2, 60.0)`` (``None``: off).

    Apps are built with their limits once; tests that probe a limit swap the whole set.
    The new limiters count in the app's store (CARDTRAIL_RATE_LIMIT_STORAGE).
    """
    built = app.extensions["cardtrail"]
    store = built.limits.store
    chosen = {name: limiter(name, setting, store) for name, setting in limits.items()}
    app.extensions["cardtrail"] = dataclasses.replace(
        built, limits=dataclasses.replace(built.limits, **chosen)
    )
