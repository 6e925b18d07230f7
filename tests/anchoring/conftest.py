"""Fixtures shared by the anchoring tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """Run with umask 022, the usual default, under which files come out 0644 unless set."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
