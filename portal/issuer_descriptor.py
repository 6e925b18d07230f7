"""The issuer descriptor this deployment publishes at ``/.well-known/cardtrail-issuer.json``.

It comes from configuration, never from the database: a server whose database was
tampered with must not be able to point verifiers at a contract of its own. The file is
:attr:`~ledger_service.config.Settings.issuer_descriptor_file` (CARDTRAIL_ISSUER_FILE,
or in development the one ``cardtrail up`` writes from the deployment it just made). It
is read on each use (a small file) and parsed again when it changes, so ``cardtrail up``
can write it after the app is built.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from flask import Blueprint, Flask, Response, abort

from anchoring.errors import Error
from anchoring.issuer import WELL_KNOWN_PATH, IssuerDescriptor
from anchoring.issuer_fetch import load_descriptor
from ledger_service.config import ConfigError, Settings
from ledger_service.runtime import runtime, runtime_of

bp = Blueprint("issuer", __name__)

_lock = threading.Lock()
_cache: dict[Path, tuple[bytes, IssuerDescriptor]] = {}


def read_issuer(path: Path) -> IssuerDescriptor | None:
    """The descriptor in ``path`` (parsed again only when its bytes change); None if the
    file does not exist; :class:`ConfigError` if it is malformed."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"the issuer descriptor {path}: {exc.strerror}") from None
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == content:
            return cached[1]
    try:
        descriptor = load_descriptor(str(path))
    except Error as exc:
        raise ConfigError(f"the issuer descriptor (CARDTRAIL_ISSUER_FILE): {exc}") from None
    with _lock:
        _cache[path] = (content, descriptor)
    return descriptor


def configured_issuer(settings: Settings) -> IssuerDescriptor | None:
    """The configured issuer descriptor, or None when this deployment publishes none."""
    path = settings.issuer_descriptor_file
    return read_issuer(path) if path is not None else None


def init_app(app: Flask) -> None:
    """Check a configured CARDTRAIL_ISSUER_FILE when the app starts: a missing or malformed
    file is a configuration error, not a page that fails later."""
    settings = runtime_of(app).settings
    if settings.issuer_file is None:
        return
    if configured_issuer(settings) is None:
        raise ConfigError(f"CARDTRAIL_ISSUER_FILE {settings.issuer_file} does not exist")


@bp.get(WELL_KNOWN_PATH)
def descriptor() -> Response:
    """The issuer descriptor (``cardtrail-issuer/1``, docs/issuer.md); 404 if none is
    configured. Not under /api: its path is the well-known one outside verifiers look up."""
    found = configured_issuer(runtime().settings)
    if found is None:
        abort(404, description="this deployment publishes no issuer descriptor")
    body = json.dumps(found.to_json(), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={"Cache-Control": "max-age=300"})
