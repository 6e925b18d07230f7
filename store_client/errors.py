"""What the store client tells its staff when it cannot go on."""

from __future__ import annotations


class StoreClientError(Exception):
    """A problem the store's staff must act on (bad setup, a refused batch)."""


class Offline(StoreClientError):
    """The service could not be reached; queued commands stay queued."""
