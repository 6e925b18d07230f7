"""Helpers for tests that build CardTrail apps."""

from __future__ import annotations

import dataclasses
import hashlib

import rfc8785

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


def event_leaf(index: int) -> bytes:
    """A log leaf shaped like an event (JSON with ``card`` and ``seq``) at ``index``.

    The anchoring worker reads each event's card into the card map, so tests that append
    to the log directly append leaves it can read: one card per event, seq 0.
    """
    card = hashlib.sha256(b"card %d" % index).hexdigest()
    return rfc8785.dumps({"leaf_index": index, "card": card, "seq": 0, "type": "ISSUED"})
