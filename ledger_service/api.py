"""The merchant JSON API (``/api/v1``): issuance, lifecycle commands, stores and pickups."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
