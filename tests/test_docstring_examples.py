"""Every docstring example in the packages runs as a doctest.

Collected here rather than with ``--doctest-modules`` over the whole tree: that option
would also import the test folders' many ``conftest.py`` files as one module name.
``cardtrail.wsgi`` builds an app from the environment when imported and the Alembic
environment runs migrations when imported, so neither is imported here; their helpers
live, with their examples, in modules that are.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("anchoring", "ledger_service", "portal", "cardtrail", "store_client")
NOT_IMPORTABLE_FOR_EXAMPLES = ("cardtrail.wsgi", "ledger_service.migrations")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        found = pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}.")
        names += [
            info.name for info in found if not info.name.startswith(NOT_IMPORTABLE_FOR_EXAMPLES)
        ]
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_hold(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_packages_have_examples_to_run():
    attempted = sum(
        doctest.testmod(importlib.import_module(name), report=False).attempted
        for name in _modules()
    )
    assert attempted >= 30
