"""Helpers for tests that build CardTrail apps."""

from __future__ import annotations

import dataclasses
import hashlib

import rfc8785
from flask.testing import FlaskClient

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


class EnglishClient(FlaskClient):
    """A test client whose requests ask for English, as an English browser does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def event_leaf(index: int) -> bytes:
    """A log leaf shaped like an event (JSON with ``card`` and ``seq``) at ``index``.

    The anchoring worker reads each event's card into the card map, so tests that append
    to the log directly append leaves it can read: one card per event, seq 0.
    """
    card = hashlib.sha256(b"card %d" % index).hexdigest()
    return rfc8785.dumps({"leaf_index": index, "card": card, "seq": 0, "type": "ISSUED"})
