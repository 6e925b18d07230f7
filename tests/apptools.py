"""Helpers for tests that build CardTrail apps."""

from __future__ import annotations

import dataclasses

from ledger_service.runtime import limiter


def set_limits(app, **limits) -> None:
    """Give ``app`` other rate limits, e.g. ``public_per_ip=(2, 60.0)`` (``None``: off).

    Apps are built with their limits once; tests that probe a limit swap the whole set.
    """
    built = app.extensions["cardtrail"]
    chosen = {name: limiter(setting) for name, setting in limits.items()}
    app.extensions["cardtrail"] = dataclasses.replace(
        built, limits=dataclasses.replace(built.limits, **chosen)
    )
