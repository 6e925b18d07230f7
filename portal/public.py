"""The consumers' blueprint: card pages, the in-browser verifier and the public card JSON."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public", __name__, template_folder="templates", static_folder="static")
