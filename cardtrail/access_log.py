"""Access logs without card numbers, for the dev server and for gunicorn.

Public URLs carry card numbers (``/c/<number>``, ``/api/v1/public/cards/<number>``,
``/lookup?number=…``), and a number is all anyone needs to open a card's page. Both
servers' request logs therefore pass every logged value through
:func:`ledger_service.log_masking.mask_card_numbers` (first four and last two symbols)
and :func:`~ledger_service.log_masking.mask_url_keys` (the pickup keys and gift tokens an
outdated client may still put in a URL):

* ``cardtrail up`` serves with :class:`MaskingRequestHandler` (werkzeug);
* gunicorn takes ``--logger-class cardtrail.access_log.GunicornLogger`` (docs/production.md).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger, SafeAtoms
from werkzeug.serving import WSGIRequestHandler

from ledger_service.log_masking import mask_card_numbers, mask_url_keys


def _masked(value: Any) -> Any:
    return mask_url_keys(mask_card_numbers(value)) if isinstance(value, str) else value


class MaskingRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging every request and error with masked numbers."""

    def log(self, type: str, message: str, *args: Any) -> None:
        """Log as werkzeug does, with card numbers masked in the message's values."""
        super().log(type, message, *(_masked(arg) for arg in args))


class MaskedAtoms(SafeAtoms):
    """gunicorn's log atoms, each masked as the access log format asks for it."""

    def __getitem__(self, key: str) -> Any:
        # Masked on use, so only the atoms the format names cost a regex pass.
        return _masked(super().__getitem__(key))


class GunicornLogger(Logger):
    """gunicorn's logger with card numbers masked in every access log atom (``%(r)s``,
    ``%(U)s``, ``%(q)s``, the referer ``%(f)s``, headers and environ values)."""

    atoms_wrapper_class = MaskedAtoms
