"""The auditors' blueprint: the chain in use, anchored checkpoints and log proofs."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auditor", __name__, url_prefix="/api/v1")
