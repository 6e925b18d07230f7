"""The merchants' console (``/console``): headquarters dashboards and store counters."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
